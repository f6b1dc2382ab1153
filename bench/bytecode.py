"""keras2edge's modules byte-compiled once before a benchmark spawns timed processes.

An installed package (the anchors: TensorFlow, LiteRT, onnxruntime, litert-quantizer) had its ``.pyc``
files written by ``pip install``; keras2edge runs from its source tree here, and where
PYTHONDONTWRITEBYTECODE is set every fresh process would compile it again (about 0.4 s of a
quantization's or a cold start's time). :func:`env` compiles it into a cache of its own and returns
the environment under which the timed processes use that cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def env(src: Path) -> tuple[tuple[str, str], ...]:
    """Environment entries (PYTHONPATH=src, bytecode on, a pycache prefix under the temp folder) under
    which ``src/keras2edge`` has been byte-compiled; as pairs, so callers do ``dict(env(src))``."""
    cache = Path(tempfile.gettempdir()) / "k2e-bench-pycache"
    pairs = (("PYTHONPATH", str(src)), ("PYTHONDONTWRITEBYTECODE", ""), ("PYTHONPYCACHEPREFIX", str(cache)))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "keras2edge")],
                   env={**os.environ, **dict(pairs)}, check=True, capture_output=True)
    return pairs

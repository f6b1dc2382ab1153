"""Record tf_keras' outputs for the hand-built models of the Keras importer tests whose expected
outputs are Keras' own (masking, Embedding(mask_zero) and masked/causal MultiHeadAttention).

How to run (from the repository root; needs TensorFlow and tf_keras, i.e. the ``zoo`` extra)::

    PYTHONPATH=src python -m tests.convert.keras.layers.record_keras_outputs

For each recording it writes the very HDF5 file the test imports (the test module's config,
weights and ``keras_version``, through ``helpers.write_h5``), loads it with
``tf_keras.models.load_model``, runs it on the test's input and stores the outputs in
``tests/fixtures/keras_recordings.npz`` under ``<name>|out:<k>``; the tests read them from there.
Weights and inputs stay written out in the test modules (2 decimals), so the tests need no
TensorFlow. Last run: TensorFlow 2.21, tf_keras 2.21.0.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tf_keras  # noqa: E402
from tests.corpus import FIXTURES  # noqa: E402

from ..helpers import write_h5  # noqa: E402
from .test_attention_embedding import MHA_IDS, MHA_WEIGHTS, _mha_config  # noqa: E402
from .test_recurrent import (  # noqa: E402
    EMBEDDING_INPUT,
    EMBEDDING_WEIGHTS,
    MASKING_INPUT,
    MASKING_WEIGHTS,
    _embedding_config,
    _masking_config,
)

OUT = FIXTURES / "keras_recordings.npz"
# name -> (config, weights, input); every file is written with keras_version 2.21.0, as the tests do.
RECORDINGS = {
    "masking": (_masking_config, MASKING_WEIGHTS, MASKING_INPUT),
    "embedding_mask": (_embedding_config, EMBEDDING_WEIGHTS, EMBEDDING_INPUT),
    "mha_masks": (_mha_config, MHA_WEIGHTS, MHA_IDS),
}


def main() -> int:
    arrays: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (config, weights, x) in RECORDINGS.items():
            path = write_h5(Path(tmp) / f"{name}.h5", config(), weights, keras_version="2.21.0")
            model = tf_keras.models.load_model(path, compile=False)
            outs = model(x, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            for k, y in enumerate(outs):
                arrays[f"{name}|out:{k}"] = np.asarray(y, np.float32)
            print(f"{name}: outputs {[tuple(y.shape) for y in outs]}")
    np.savez_compressed(OUT, **arrays)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

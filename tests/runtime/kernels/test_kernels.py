"""Every float kernel against LiteRT's reference kernels, one single-op ``.tflite`` file per case.

The file is written by the project's writer with output shapes left unknown, so both runtimes infer
them; shapes and dtypes must be equal and values close (max abs error / max(1, range) <= rtol).
Ops LiteRT 2.3's BUILTIN_REF resolver lacks run on its default resolver instead.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.kernels import KERNELS

from ...litert import LITERT_REF_MISSING, litert
from .builtin_cases import CASES
from ..helpers import OpCase, X, make_feeds, op_model, to_bytes
from ...tolerances import rel_err

WORST: dict[str, float] = {}


@pytest.mark.parametrize("c", CASES, ids=str)
def test_kernel_matches_litert(c: OpCase) -> None:
    data = to_bytes(op_model(c.op, c.inputs, c.outputs, c.options, c.version))
    feeds = make_feeds(c.inputs, np.random.default_rng(zlib.crc32(c.name.encode())))
    ref = data if c.oracle_inputs is None else to_bytes(op_model(c.op, c.oracle_inputs, c.outputs, c.options,
                                                                   c.version))
    want = litert(ref, feeds, reference=(c.op, c.version) not in LITERT_REF_MISSING)
    it = Interpreter(data)
    got = it.run(feeds if len(feeds) != 1 else feeds[0]) if feeds else it.run()
    got = list(got.values()) if isinstance(got, dict) else [got]
    assert len(got) == len(want)
    worst = 0.0
    for k, (g, r) in enumerate(zip(got, want)):
        assert g.shape == r.shape, f"output {k}: shape {g.shape}, LiteRT {r.shape}"
        assert g.dtype == r.dtype, f"output {k}: dtype {g.dtype}, LiteRT {r.dtype}"
        err = rel_err(g, r, same_dtype=True)
        worst = max(worst, err)
        assert err <= c.rtol, f"output {k}: max error {err:.3g} > {c.rtol:g}"
    WORST[c.name] = worst


def test_dynamic_batch_per_op() -> None:
    """Ops with a -1 batch in shape_signature run at other batch sizes, like LiteRT after a resize."""
    for c in CASES:
        xs = [s for s in c.inputs if isinstance(s, X)]
        if c.op in ("TRANSPOSE_CONV", "SHAPE", "RESHAPE", "FULLY_CONNECTED", "BATCH_MATMUL", "SELECT",
                    "GATHER", "SPLIT", "SPLIT_V", "UNPACK", "CONCATENATION", "STRIDED_SLICE", "SLICE", "PACK",
                    "TILE", "BROADCAST_TO", "TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "QUANTIZE", "DEQUANTIZE",
                    "BATCH_TO_SPACE_ND"):
            continue
        if len(xs) != 1 or len(xs[0].shape) < 2 or xs[0].value is not None or c.oracle_inputs is not None:
            continue
        inputs = [X(s.shape, s.dtype, s.low, s.high, (-1,) + tuple(s.shape[1:]), s.quant) if isinstance(s, X) else s
                  for s in c.inputs]
        data = to_bytes(op_model(c.op, inputs, c.outputs, c.options, c.version))
        it = Interpreter(data)
        for batch in (3, 1, 3):
            feeds = make_feeds(inputs, np.random.default_rng(batch), batch=batch)
            want = litert(data, feeds, reference=(c.op, c.version) not in LITERT_REF_MISSING)
            got = it.run(feeds[0])
            got = list(got.values()) if isinstance(got, dict) else [got]
            for g, r in zip(got, want):
                assert g.shape == r.shape, f"{c.name} batch {batch}: {g.shape} vs {r.shape}"
                assert rel_err(g, r, same_dtype=True) <= c.rtol, f"{c.name} batch {batch}"


def test_every_float_kernel_has_a_case() -> None:
    covered = {c.op for c in CASES}
    float_ops = {op for op, dt in KERNELS if dt == "float32"}
    assert not sorted(float_ops - covered)

"""The float depthwise tap loop run in cache-sized blocks (``kernels/conv.TAP_BLOCK_BYTES``) against
LiteRT's reference kernel and against the same loop over the whole tensor.

The builtin cases are small enough to be one block; here the block is shrunk so that they split into
single rows of one image (and into groups of whole images), which exercises the per-block phase
planes (stride > 1), the taps cut to a band of rows, and the bias and activation applied per block.
Blocking keeps each value's summation order, so the result must equal the unblocked loop bit for bit.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from keras2edge.runtime import Interpreter
from keras2edge.runtime.kernels import conv

from ...litert import litert
from ...tolerances import rel_err
from ..helpers import X, make_feeds, op_model, to_bytes
from .builtin_cases import CASES

DEPTHWISE = [c for c in CASES if c.op == "DEPTHWISE_CONV_2D" or c.name.startswith("conv_groups_depthwise")]


def _run(data: bytes, feeds: list[np.ndarray], block: int, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setattr(conv, "TAP_BLOCK_BYTES", block)
    monkeypatch.setattr(conv, "EINSUM_MIN_CHANNELS", 1 << 30)  # always the tap loop
    return Interpreter(data).run(feeds[0])


@pytest.mark.parametrize("c", DEPTHWISE, ids=str)
@pytest.mark.parametrize("block", [1, 2000], ids=["row_blocks", "image_blocks"])
def test_blocked_depthwise(c, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # batch 3, so that image blocks (2000 bytes: one or more whole images) leave a short last group
    inputs = [X((3, *s.shape[1:]), s.dtype, s.low, s.high) if isinstance(s, X) else s for s in c.inputs]
    data = to_bytes(op_model(c.op, inputs, c.outputs, c.options, c.version))
    if c.oracle_inputs is not None:
        oracle = [X((3, *s.shape[1:]), s.dtype, s.low, s.high) if isinstance(s, X) else s for s in c.oracle_inputs]
        ref_data = to_bytes(op_model(c.op, oracle, c.outputs, c.options, c.version))
    else:
        ref_data = data
    feeds = make_feeds(inputs, np.random.default_rng(zlib.crc32(c.name.encode())))
    got = _run(data, feeds, block, monkeypatch)
    whole = _run(data, feeds, 0, monkeypatch)
    np.testing.assert_array_equal(got, whole)
    want = litert(ref_data, feeds)[0]
    assert got.shape == want.shape
    assert rel_err(got, want, same_dtype=True) <= c.rtol


def test_blocks_split_as_asked() -> None:
    """(images, rows) per block: whole images while they fit, else bands of rows, never empty."""
    assert conv._blocks(8, 10, 100, 2500) == (2, 10)
    assert conv._blocks(8, 10, 100, 450) == (1, 4)
    assert conv._blocks(8, 10, 100, 1) == (1, 1)
    assert conv._blocks(3, 10, 100, 1 << 20) == (3, 10)

"""Quantized unrolled LSTM/GRU files are smaller than float (issue 11; the trained digits fixtures of
tests/fixtures/trained). Every unrolled step reads the same recurrent kernel (and, in the GRU, the
same recurrent bias): the QDQ rewrite stores one integer copy per (float constant, parameters), the
int8 planner gives the steps' inputs one shared range so the int32 recurrent bias is one too, and
the TFLite writer shares equal QuantizationParameters tables. That the integers are still TFLite
Micro's and the accuracy Keras's is tests/quantize/test_trained_int8.py and test_int16x8_trained.py.

Measured (.tflite bytes; before the fix int8 LSTM 68240, GRU 71856; then, before the writer shared
shapes, quantization vectors and options and the emitter shortened layer-internal names
(test_tflite_metadata_size.py), LSTM 37840 / 30832 / 31408 / 25696 / 27888, GRU 35456 / 32800 /
33824 / 27504 / 29472):

============  =====  =====  =======  =======  =======
model         float  int8   int16x8  dynamic  float16
============  =====  =====  =======  =======  =======
digits_lstm   33520  22816  22992    20320    23552
digits_gru    30480  23744  24096    22496    24480
============  =====  =====  =======  =======  =======

int8 weight and bias buffers: LSTM 6060 of float's 22380 bytes (27%), GRU 5128 of 17896 (29%): the
int8 weights are a quarter, the int32 biases stay four bytes each.

ONNX (bytes, float / int8 / int16x8 / dynamic / float16): LSTM 31431 / 26594 / 25304 / 17105 / 21489,
GRU 27573 / 27404 / 25855 / 18682 / 21618 (int8 before: 120148, 128687, then 68285, 74730 with the
integer constants stored once, checked here). Data movement on the integers and short names for the
QDQ intermediates did the rest (tests/quantize/test_qdq_onnx_size.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import keras2edge
from keras2edge.convert.onnx import to_onnx
from keras2edge.convert.tflite import tflite_bytes
from keras2edge.ir.dtypes import DType
from keras2edge.runtime.reader import load_model

from .test_trained_fixtures import RECURRENT, TRAINED, _data

SCHEMES = ("int8", "int16x8", "dynamic", "float16")
#: int8 weight + bias buffer bytes over float's (measured 0.27 LSTM, 0.29 GRU; int8 weights alone 0.25).
MAX_INT8_BUFFER_RATIO = 0.3


def _buffer_bytes(data: bytes) -> int:
    return sum(int(np.asarray(b).nbytes) for b in load_model(data).buffers)


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return _data()["x_calib"].reshape((-1, 8, 8))


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_quantized_recurrent_files_are_smaller(name: str, calibration: np.ndarray) -> None:
    model = TRAINED / f"{name}.keras"
    graph = keras2edge.load(model)
    float_file = tflite_bytes(graph)
    weights = [c for c in graph.constants() if c.dtype == DType.FLOAT32]
    shared = [c for c in weights if len(c.uses) > 1]
    assert shared and any("recurrent_kernel" in c.name for c in shared), [c.name for c in weights]
    sizes = {}
    for scheme in SCHEMES:
        kw = {"calibration": calibration} if scheme in ("int8", "int16x8") else {}
        q = keras2edge.quantize(model, scheme=scheme, **kw)
        data = tflite_bytes(q)
        sizes[scheme] = len(data)
        # One stored copy of each float constant: no "<weight>/<type>_1" twins.
        stored = [c.name for c in q.constants() if c.dtype != DType.FLOAT32]
        for c in weights:
            copies = [s for s in stored if s == c.name or s.startswith(f"{c.name}/")]
            assert len(copies) <= 1, (scheme, c.name, copies)
        if scheme == "int8":
            assert _buffer_bytes(data) <= MAX_INT8_BUFFER_RATIO * _buffer_bytes(float_file), scheme
            for c in shared:
                assert sum(s.startswith(f"{c.name}/") for s in stored) == 1, (c.name, stored)
            inits = [i.name for i in to_onnx(q).graph.initializer]
            for c in q.constants():  # one initializer per integer constant (its name, or <name>_<layout>)
                if c.dtype in (DType.INT8, DType.INT32):
                    assert sum(i == c.name or i.startswith(f"{c.name}_") for i in inits) == 1, (c.name, inits)
    assert all(size < len(float_file) for size in sizes.values()), (len(float_file), sizes)

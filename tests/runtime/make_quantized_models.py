"""Make QUANTIZED ``.tflite`` files with the OFFICIAL TensorFlow Lite converter, as oracles for the int8
runtime (keras2edge.runtime vs TFLite Micro) and as anchors for keras2edge's own quantizer.

Needs TensorFlow (the ``zoo`` extra). Nothing is downloaded: weights are random with a fixed seed and
the calibration data is random in each model's input range.

Every model is converted at batch 1 (a static shape, as TFLite Micro needs) in the converter's four
post-training modes, named by the file suffix:

* ``int8``  -- full integer: int8 activations and weights, int32 biases, int8 input and output
  (``optimizations=[DEFAULT]``, a representative dataset, ``TFLITE_BUILTINS_INT8``);
* ``16x8``  -- int16 activations, int8 weights, int64 biases, int16 input and output
  (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``, with float fallback for the ops
  the converter has no 16x8 form of);
* ``dynamic`` -- dynamic range: int8 weights, float activations (hybrid kernels), float I/O;
* ``f16``   -- float16 weights dequantized at load (DEQUANTIZE of float16 constants).

Two jobs:

* ``python -m tests.runtime.make_quantized_models`` (from the repository root) regenerates the SMALL
  committed fixtures ``tests/fixtures/tflite_runtime/<name>.<mode>.tflite`` for the models of
  ``make_converter_models._small_models`` (each well under 200 KB); the tests run them in TFLite Micro
  and LiteRT and never need TensorFlow.
* ``python -m tests.runtime.make_quantized_models --zoo NAME [NAME ...] --out DIR [--modes int8 ...]``
  writes ``DIR/NAME.<mode>.tflite`` for Keras applications (``--zoo int8`` = the five the int8 runtime
  must run bit-exactly: MobileNetV2, MobileNetV3Small, MobileNetV3Large, EfficientNetB0, ResNet50),
  plus ``DIR/NAME.<mode>.json`` (opcodes, sizes). Used by the zoo-marked int8 tests and bench/runtime.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import make_converter_models as base

MODES = ("int8", "16x8", "dynamic", "f16")
#: The zoo models whose full-int8 files the runtime must run bit-exactly (issue 10).
ZOO_INT8 = ("MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "ResNet50")
CALIBRATION_SAMPLES = 8


def _calibration(shapes: list[tuple[int, ...]], lo: float, hi: float, seed: int) -> Callable[[], Iterator[list]]:
    def gen() -> Iterator[list]:
        rng = np.random.default_rng(seed)
        for _ in range(CALIBRATION_SAMPLES):
            yield [rng.uniform(lo, hi, (1, *s)).astype(np.float32) for s in shapes]
    return gen


def convert(model, mode: str, lo: float, hi: float, seed: int = base.SEED) -> bytes:
    """``model`` converted at batch 1 in ``mode`` (one of :data:`MODES`) by the official converter."""
    import tensorflow as tf

    import keras

    shapes = [tuple(int(d) for d in i.shape[1:]) for i in model.inputs]
    ins = [keras.Input(batch_shape=(1, *s), name=i.name) for s, i in zip(shapes, model.inputs)]
    fixed = keras.Model(ins, model(ins if len(ins) > 1 else ins[0]), name=model.name)  # batch 1, same weights
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode in ("int8", "16x8"):
        conv.representative_dataset = _calibration(shapes, lo, hi, seed)
        if mode == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = tf.int8
        else:
            # Ops the converter cannot make 16x8 (HARD_SWISH, ...) stay float between QUANTIZE/DEQUANTIZE.
            conv.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS]
            conv.inference_input_type = conv.inference_output_type = tf.int16
    elif mode == "f16":
        conv.target_spec.supported_types = [tf.float16]
    elif mode != "dynamic":
        raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return conv.convert()
        except RuntimeError as e:
            if mode != "16x8" or "Unsupported output type INT16" not in str(e):
                raise
    # An output computed by an op left float: int16 I/O is impossible, so the file keeps float I/O.
    conv.inference_input_type = conv.inference_output_type = tf.float32
    with contextlib.redirect_stdout(io.StringIO()):
        return conv.convert()


def make_small(out: Path) -> None:
    import keras

    keras.utils.set_random_seed(base.SEED)
    rng = np.random.default_rng(base.SEED)
    for name, (model, (lo, hi)) in base._small_models().items():
        base._randomize_bn(model, rng)
        for mode in MODES:
            tfl = convert(model, mode, lo, hi)
            if len(tfl) > 200_000:
                raise SystemExit(f"{name}.{mode}: {len(tfl)} bytes is too big to commit")
            (out / f"{name}.{mode}.tflite").write_bytes(tfl)
            print(f"{name}.{mode}: {len(tfl)} bytes, ops {sorted(base._opcodes(tfl))}", flush=True)


def make_zoo(names: list[str], modes: list[str], out: Path) -> None:
    import keras

    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        _, (lo, hi) = base.ZOO[name]
        model = base.zoo_model(name)
        for mode in modes:
            tfl = convert(model, mode, lo, hi)
            (out / f"{name}.{mode}.tflite").write_bytes(tfl)
            info = {"model": name, "mode": mode, "input_shape": [int(d) for d in model.inputs[0].shape[1:]],
                    "input_range": [lo, hi], "tflite_bytes": len(tfl), "ops": base._opcodes(tfl)}
            (out / f"{name}.{mode}.json").write_text(json.dumps(info, indent=1))
            print(f"{name}.{mode}: {len(tfl) / 1e6:.1f} MB, ops {sorted(info['ops'])}", flush=True)
        keras.backend.clear_session()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", nargs="+", help="Keras application names, 'int8' (the five of ZOO_INT8) or 'all'")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--out", type=Path, help="output folder (default: the committed fixtures' folder, without --zoo)")
    a = ap.parse_args(argv)
    if a.zoo:
        names = {"all": list(base.ZOO), "int8": list(ZOO_INT8)}.get(a.zoo[0], a.zoo) if len(a.zoo) == 1 else a.zoo
        unknown = [n for n in names if n not in base.ZOO]
        if unknown or a.out is None:
            ap.error(f"unknown models {unknown} (known: {', '.join(base.ZOO)})" if unknown else "--out is required")
        make_zoo(names, a.modes, a.out)
    else:
        make_small(a.out or base.OUT_SMALL)


if __name__ == "__main__":
    main()

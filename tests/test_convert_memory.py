"""Peak memory of a conversion: weights are read once and streamed into the output, never copied whole.

A generated Keras 2 HDF5 model with about 180 MB of float32 weights (a 3x3 Conv2D folded with its
BatchNormalization, then three Dense layers) is converted by the CLI in a child process, to .onnx
and to .tflite: the path users take (``keras2edge convert`` -> ``api.convert_model`` -> ``api.save``
-> ``save_onnx`` / ``save_tflite``). The child's own peak RSS (``os.wait4``) must stay within the
interpreter's baseline plus the weights once plus a fixed slack (a 16 MiB slice of a transposed
weight being written, BatchNorm folding's temporaries), well below one more copy of the largest
weight. The issue's target, 2.5x the weight bytes above the baseline, is checked too. Before
streaming (the file's bytes built in memory, then written), both paths peaked at baseline + 5.0x
the weights; streamed, at baseline + 1.14x.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from .hostile.harness import run_api, run_cli

#: (layer name, class, config, weights): Keras 2 layouts (HWIO kernels, (in, out) Dense kernels).
_C, _F = 256, 2048


def _layers(rng: np.random.Generator) -> list[tuple[str, str, dict, list[tuple[str, np.ndarray]]]]:
    def w(*shape: int) -> np.ndarray:
        return rng.random(shape, dtype=np.float32) - 0.5

    return [
        ("conv", "Conv2D", {"filters": 4 * _C, "kernel_size": [3, 3], "padding": "same"},
         [("kernel", w(3, 3, _C, 4 * _C)), ("bias", w(4 * _C))]),
        ("bn", "BatchNormalization", {"epsilon": 1e-3},
         [("gamma", w(4 * _C)), ("beta", w(4 * _C)), ("moving_mean", w(4 * _C)),
          ("moving_variance", w(4 * _C) + 1.0)]),
        ("pool", "GlobalAveragePooling2D", {}, []),
        ("fc1", "Dense", {"units": 4 * _F}, [("kernel", w(4 * _C, 4 * _F)), ("bias", w(4 * _F))]),
        ("fc2", "Dense", {"units": _F}, [("kernel", w(4 * _F, _F)), ("bias", w(_F))]),
        ("fc3", "Dense", {"units": 4 * _F}, [("kernel", w(_F, 4 * _F)), ("bias", w(4 * _F))]),
    ]


def _write_model(path: Path) -> tuple[int, int]:
    """Write the model as a Keras 2 full-model HDF5 file; returns (weight bytes, largest weight)."""
    layers = _layers(np.random.default_rng(0))
    entries = [{"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 8, 8, _C]}}]
    entries += [{"class_name": cls, "config": {"name": name, **cfg}} for name, cls, cfg, _ in layers]
    config = {"class_name": "Sequential", "config": {"name": "big", "layers": entries}}
    sizes = []
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([e["config"]["name"].encode() for e in entries])
        for e in entries:
            mw.create_group(e["config"]["name"]).attrs["weight_names"] = np.array([], dtype="S1")
        for name, _, _, weights in layers:
            g = mw[name]
            for wname, arr in weights:
                g.create_dataset(f"{name}/{wname}:0", data=arr)
                sizes.append(arr.nbytes)
            g.attrs["weight_names"] = np.array([f"{name}/{wname}:0".encode() for wname, _ in weights])
    return sum(sizes), max(sizes)


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    path = tmp_path_factory.mktemp("big") / "big.h5"
    weights, largest = _write_model(path)
    assert 170e6 < weights < 200e6
    return path, weights, largest


@pytest.fixture(scope="module")
def baseline() -> int:
    """Peak RSS of a child with keras2edge, numpy, h5py, onnx and click imported, doing nothing."""
    out = run_api("[__import__(m) for m in ('h5py', 'onnx', 'click', 'keras2edge.cli')] and 0")
    assert out.ok, out.msg
    return out.peak_rss


@pytest.mark.parametrize("ext", ["onnx", "tflite"])
def test_convert_streams_weights(big_model: tuple[Path, int, int], baseline: int, ext: str,
                                 tmp_path: Path) -> None:
    path, weights, largest = big_model
    out = tmp_path / f"big.{ext}"
    res = run_cli(["convert", str(path), "-o", str(out)], timeout=300)
    assert res.returncode == 0, res.text[-2000:]
    assert out.stat().st_size > 0.99 * weights   # every weight written (BatchNorm folded away)
    used = res.peak_rss - baseline
    mb = 1 << 20
    report = (f"{ext}: peak RSS {res.peak_rss / mb:.0f} MiB = baseline {baseline / mb:.0f} MiB + {used / mb:.0f} MiB "
              f"for {weights / mb:.0f} MiB of weights (largest {largest / mb:.0f} MiB)")
    assert used < 2.5 * weights, report
    # The design: the graph's weights once, nothing else of their size (measured: + 23 MiB).
    assert used < weights + 56 * mb < weights + largest, report

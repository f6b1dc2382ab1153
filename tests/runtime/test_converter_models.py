"""Files made by the official TFLite converter (TF 2.21) run like LiteRT runs them.

The fixtures in ``tests/fixtures/tflite_runtime/`` are made by ``tests/runtime/make_converter_models.py``
(Keras 3 models, float32, dynamic batch); ``<name>.io.npz`` holds a batch of 2 inputs and Keras' own
outputs. Checked: every output against LiteRT (reference kernels) and Keras, at batch 2 (a re-plan
from the file's batch 1) and batch 1; every intermediate tensor against LiteRT's
(``experimental_preserve_all_tensors``); the file's shapes against the computed ones. Against
LiteRT: ``TOL`` of the output range; against Keras: ``tolerances.KERAS_FIXTURES`` of the output's
peak. The zoo-marked test does the same for the 14 Keras applications (needs TensorFlow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras2edge.runtime import Interpreter

from ..corpus import FIXTURES, REPO
from ..litert import litert
from ..tolerances import KERAS_FIXTURES, rel_err, scaled_error

DIR = FIXTURES / "tflite_runtime"
NAMES = ["mbv2_block", "pool_concat_tconv", "dense_seq", "conv1d", "resize"]
TOL = 1e-5
WORST: dict[str, float] = {}
KERAS_WORST: dict[str, float] = {}


def fixture(name: str) -> bytes:
    return (DIR / f"{name}.tflite").read_bytes()


def _io(name: str) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    io = np.load(DIR / f"{name}.io.npz")
    xs = [io[f"in:{k}"] for k in range(sum(1 for key in io if key.startswith("in:")))]
    outs = {int(key[4:]): io[key] for key in io if key.startswith("out:")}
    return xs, outs


def _by_keras_index(it: Interpreter, got) -> dict[int, np.ndarray]:
    """The converter's signature names outputs output_0, output_1, ... in Keras' order."""
    got = got if isinstance(got, dict) else {it.output_names[0]: got}
    return {int(name.rsplit("_", 1)[1]): v for name, v in got.items()}


def test_fixtures_are_small_and_complete() -> None:
    for n in NAMES:
        assert (DIR / f"{n}.tflite").stat().st_size < 200_000
        assert (DIR / f"{n}.io.npz").exists()


@pytest.mark.parametrize("name", NAMES)
def test_converter_file_matches_litert_and_keras(name: str) -> None:
    data = fixture(name)
    xs, keras_out = _io(name)
    it = Interpreter(data)
    assert it.shape_mismatches == []
    worst = 0.0
    for batch in (2, 1):
        feeds = [x[:batch] for x in xs]
        got = _by_keras_index(it, it.run(feeds if len(feeds) > 1 else feeds[0]))
        want = litert(data, feeds, fallback=True)
        order = [int(d["name"].rsplit("_", 1)[1]) for d in it.get_output_details()]
        for k, w in zip(order, want):
            err = rel_err(got[k], w, same_dtype=True)
            worst = max(worst, err)
            assert err <= TOL, f"{name} output {k} batch {batch}: {err:.2e} vs LiteRT"
            err = scaled_error(got[k], keras_out[k][:batch])
            KERAS_WORST[name] = max(KERAS_WORST.get(name, 0.0), err)
            assert err <= KERAS_FIXTURES, f"{name} output {k} batch {batch}: {err:.2e} vs Keras"
    WORST[name] = worst


@pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors")
@pytest.mark.parametrize("name", NAMES)
def test_every_intermediate_matches_litert(name: str) -> None:
    from ai_edge_litert.interpreter import Interpreter as LiteRT
    from ai_edge_litert.interpreter import OpResolverType

    data = fixture(name)
    xs, _ = _io(name)
    feeds = [x[:1] for x in xs]  # the file's batch: LiteRT keeps every tensor at its planned shape
    it = Interpreter(data, keep_intermediates=True)
    it.run(feeds if len(feeds) > 1 else feeds[0])
    try:
        li = LiteRT(model_content=data, experimental_preserve_all_tensors=True,
                    experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    except ValueError:
        li = LiteRT(model_content=data, experimental_preserve_all_tensors=True)
    li.allocate_tensors()
    for d, x in zip(li.get_input_details(), feeds):
        li.set_tensor(d["index"], x)
    li.invoke()
    checked = 0
    for d in li.get_tensor_details():
        if d["name"] in it.intermediates and d["index"] not in it._consts:
            mine = it.intermediates[d["name"]]
            theirs = li.get_tensor(d["index"])
            assert mine.shape == theirs.shape, d["name"]
            assert rel_err(mine, theirs, same_dtype=True) <= TOL, d["name"]
            checked += 1
    produced = {o for op in it.ops for o in op.outputs}
    assert checked >= len(produced) - 1  # every op output (LiteRT may drop one it folded itself)


# ------------------------------------------------------------------------------------------------
# Zoo: the 14 Keras applications, converted on the fly (TensorFlow needed; not committed: too big)
# ------------------------------------------------------------------------------------------------

ZOO = ["MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "ResNet50", "ResNet50V2",
       "EfficientNetB0", "EfficientNetV2B0", "DenseNet121", "VGG16", "InceptionV3", "Xception", "NASNetMobile",
       "ConvNeXtTiny"]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    d = Path(os.environ.get("K2E_RUNTIME_ZOO_DIR", "")) if os.environ.get("K2E_RUNTIME_ZOO_DIR") else \
        tmp_path_factory.mktemp("runtime-zoo")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_matches_litert(name: str, zoo_dir: Path) -> None:
    path = zoo_dir / f"{name}.tflite"
    if not path.exists():
        tfpy = os.environ.get("K2E_TF_PYTHON", sys.executable)
        r = subprocess.run([tfpy, str(REPO / "tests" / "runtime" / "make_converter_models.py"), "--zoo", name,
                            "--out", str(zoo_dir)], capture_output=True, text=True, check=False)
        if r.returncode:
            pytest.fail(f"making {name} with the TFLite converter failed (needs TensorFlow: the zoo extra, or "
                        f"K2E_TF_PYTHON): {r.stderr.strip().splitlines()[-1:]}", pytrace=False)
    info = json.loads((zoo_dir / f"{name}.json").read_text())
    data = path.read_bytes()
    it = Interpreter(data)
    assert it.shape_mismatches == []
    from keras2edge.runtime.planner import check_plan

    from .test_planner import _live_ranges_disjoint

    assert check_plan(it._plan.arena) == []
    _live_ranges_disjoint(it)
    lo, hi = info["input_range"]
    x = np.random.default_rng(0).uniform(lo, hi, (2, *info["input_shape"])).astype(np.float32)
    got = it.run(x)
    want = litert(data, [x], fallback=True)[0]
    err = rel_err(got, want, same_dtype=True)
    WORST[name] = err
    assert err <= TOL, f"{name}: {err:.2e}"
    io = zoo_dir / f"{name}.io.npz"
    if io.exists():  # Keras' own output for a batch-1 input, recorded when the model was made
        ref = np.load(io)
        err = scaled_error(it.run(ref["x"]), ref["y"])
        KERAS_WORST[name] = err
        assert err <= KERAS_FIXTURES, f"{name} vs Keras: {err:.2e} > {KERAS_FIXTURES:g}"

"""Zoo: pruned models written back by keras2edge (``write_keras``: ``.keras`` and ``.h5``) load in Keras
itself, and Keras' predict() equals keras2edge.runtime on the pruned graph.

Both containers from a Keras 3 source (``.keras`` -> ``.h5`` and back); a Keras 2 source in its own.
MultiHeadAttention (its folded query scaling divided out) from Keras 2 and Keras 3 files; Keras 1
files (which no Keras today loads) written as .keras in Keras 3's form, loaded by Keras 3.

Oracles: Keras 3 (``keras.models.load_model``) and tf_keras (Keras 2: ``tf_keras.models.load_model``)
on the written files. Pruning is made by hand (``tests/convert/keras_out/helpers.py``): channel
(unit) removal on the trained digits fixtures, on the k2 (tf_keras) / k3 (Keras 3) fixtures, and on a
random-weight MobileNetV2 (``tests/runtime/make_converter_models.zoo_model``) whose inverted-residual
expansions lose a quarter of their channels (expand conv, its BatchNormalization, the depthwise conv
and its BatchNormalization, the projection's inputs).

Run: ``PYTHONPATH=src /work/zoovenv/bin/python -m pytest -q -m zoo tests/zoo/test_keras_out.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ..convert.keras_out.helpers import KERAS1, _bn, channel_pruned, keras1_source, keras1_x, load_for_pruning, \
    remove_channels, run_runtime, take, zero_smallest
from ..corpus import FIXTURES
from ..tolerances import KERAS_FIXTURES, ZOO, scaled_error
from .conftest import ZOO_RESULTS

pytestmark = [pytest.mark.zoo, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

TRAINED = FIXTURES / "trained"


def _loader(which: str):
    """``keras.models.load_model`` (Keras 3) or ``tf_keras.models.load_model``; FAIL without them."""
    try:
        if which == "keras3":
            import keras

            assert keras.__version__.startswith("3."), keras.__version__
            return keras.models.load_model
        import tf_keras

        return tf_keras.models.load_model
    except Exception as e:  # noqa: BLE001 - ImportError or a broken TF install
        pytest.fail(f"the zoo tests need TensorFlow, Keras 3 and tf_keras ({type(e).__name__}: {e}); install the "
                    "zoo extra: pip install -e '.[test,zoo]'", pytrace=False)


def _predict(which: str, path: Path, x: object) -> list[np.ndarray]:
    model = _loader(which)(str(path), compile=False)
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


def _check(which: str, graph, out: Path, x: object, tol: float) -> float:
    """Keras' outputs on the written file against keras2edge.runtime on the pruned graph."""
    want = run_runtime(graph, x)
    got = _predict(which, out, x)
    assert len(got) == len(want)
    errs = [scaled_error(g, w) for g, w in zip(got, want)]
    ZOO_RESULTS.append({"model": f"{out.stem[:13]}>{'k3' if which == 'keras3' else 'tfk'}", "format": out.suffix[1:],
                        "status": "ok" if max(errs) <= tol else "FAIL", "rel_err": max(errs)})
    assert max(errs) <= tol, f"{out.name}: Keras vs keras2edge.runtime scaled errors {errs} > {tol}"
    return max(errs)


def _digits_x(name: str) -> np.ndarray:
    with np.load(TRAINED / "digits.npz") as z:
        x = z["x_test"][:64]
    return x[..., None] if name == "digits_cnn" else x


def _fixture_x(path: Path) -> dict[str, np.ndarray]:
    with np.load(str(path).rsplit(".", 1)[0] + ".io.npz") as z:
        return {k[3:]: z[k] for k in z.files if k.startswith("in:")}


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn", "digits_lstm", "digits_gru"])
def test_channel_pruned_digits_keras3(name: str, fmt: str, tmp_path: Path) -> None:
    """The trained .keras fixtures, written back as .keras and (the other container) as Keras 3 .h5."""
    from keras2edge.convert.keras_out import write_keras

    g = channel_pruned(name, str(TRAINED / f"{name}.keras"))
    out = tmp_path / f"{name}_pruned.{fmt}"
    write_keras(g, out)
    _check("keras3", g, out, _digits_x(name), KERAS_FIXTURES)


@pytest.mark.parametrize("era,which,fmt", [("k3", "keras3", "h5"), ("k3", "keras3", "keras"), ("k2", "tf_keras", "h5")])
@pytest.mark.parametrize("name", ["mlp", "cnn2d"])
def test_channel_pruned_h5(era: str, which: str, fmt: str, name: str, tmp_path: Path) -> None:
    """Keras 3 legacy .h5 (written as .h5 and as .keras) read by Keras 3; tf_keras (Keras 2) .h5 read by
    tf_keras."""
    from keras2edge.convert.keras_out import write_keras

    src = FIXTURES / era / f"{name}.h5"
    g = channel_pruned(name, str(src))
    out = tmp_path / f"{name}_pruned.{fmt}"
    write_keras(g, out)
    x = _fixture_x(src)
    _check(which, g, out, x if len(x) > 1 else next(iter(x.values())), KERAS_FIXTURES)


@pytest.mark.parametrize("rel,which", [("k3/merge.keras", "keras3"), ("k3/merge.h5", "keras3"),
                                       ("k2/merge.h5", "tf_keras"), ("keras_out/nested.keras", "keras3"),
                                       ("keras_out/nested.h5", "keras3")])
def test_channel_pruned_nested_models(rel: str, which: str, tmp_path: Path) -> None:
    """Nested models: channels removed inside one (merge) and across a nested model's input (nested)."""
    from keras2edge.convert.keras_out import write_keras

    src = FIXTURES / rel
    name = Path(rel).stem
    g = channel_pruned(name, str(src))
    out = tmp_path / f"{name}_{src.suffix[1:]}_pruned{src.suffix}"
    write_keras(g, out)
    x = _fixture_x(src) if name == "merge" else {"x": np.random.default_rng(0).normal(size=(4, 10)).astype(np.float32)}
    _check(which, g, out, x if len(x) > 1 else next(iter(x.values())), KERAS_FIXTURES)


@pytest.mark.parametrize("rel,which", [("k3/rnn.keras", "keras3"), ("k2/cnn2d.keras", "tf_keras"),
                                       ("k2/rnn.h5", "tf_keras"), ("k3/merge.h5", "keras3")])
def test_zeroed_fixtures(rel: str, which: str, tmp_path: Path) -> None:
    """Magnitude-style zeros in every weight (Bidirectional, shared layers, recurrent, transposed convs)."""
    from keras2edge.convert.keras_out import write_keras

    src = FIXTURES / rel
    g = load_for_pruning(str(src))
    zero_smallest(g, [v.name for v in g.constants() if v.const is not None and v.const.ndim >= 2
                      and v.const.dtype.kind == "f" and v.const.size >= 4])
    out = tmp_path / f"{rel.replace('/', '_').split('.')[0]}_0{src.suffix}"
    write_keras(g, out)
    x = _fixture_x(src)
    _check(which, g, out, x if len(x) > 1 else next(iter(x.values())), KERAS_FIXTURES)


@pytest.mark.parametrize("rel,which", [("k3/attention.keras", "keras3"), ("k3/attention.h5", "keras3"),
                                       ("k2/attention.h5", "tf_keras"), ("k2/attention.keras", "tf_keras")])
def test_pruned_multi_head_attention(rel: str, which: str, tmp_path: Path) -> None:
    """MultiHeadAttention (self- and cross-attention, value_dim != key_dim): half of every projection
    kernel zeroed, and mha_cross's output projection losing 4 of its 16 features (``output_shape``
    written, the next Dense's inputs removed)."""
    from keras2edge.convert.keras_out import write_keras

    src = FIXTURES / rel
    g = load_for_pruning(str(src))
    zero_smallest(g, [v.name for v in g.constants() if v.name.startswith(("mha_self/", "mha_cross/"))
                      and v.name.endswith("_kernel")])
    keep = [c for c in range(16) if c % 4]
    remove_channels(g, keep, [("mha_cross/output_kernel", 1), ("mha_cross/output_bias", 0), ("head/kernel", 0)])
    out = tmp_path / f"{rel.replace('/', '_').split('.')[0]}_pruned{src.suffix}"
    write_keras(g, out)
    _check(which, g, out, _fixture_x(src), KERAS_FIXTURES)


@pytest.mark.parametrize("case", [*KERAS1, "th-channels"])
def test_keras1_source_as_keras3(case: str, tmp_path: Path) -> None:
    """A Keras 1 model (no Keras today loads one) pruned and written as .keras: Keras 3 loads the
    Keras 3 form keras2edge writes ('th' kernels and Theano flips as the importer arranged them,
    channels_first kept) and predicts what keras2edge.runtime computes on the pruned graph."""
    from keras2edge.convert.keras_out import write_keras

    g = load_for_pruning(keras1_source(case.split("-")[0], tmp_path))
    if case == "th-channels":  # filter 2 removed by hand, with the Dense rows the channels-first Flatten gives it
        keep = [0, 1, 3]
        (flatten,) = [n for n in g.nodes if n.op == "Reshape"]
        flatten.attrs["shape"] = (-1, 27)
        take(g, [("convolution2d_1/kernel", 3, keep), ("convolution2d_1/bias", 0, keep),
                 ("dense_1/kernel", 0, [c * 9 + i for c in keep for i in range(9)])])
    else:
        zero_smallest(g, [v.name for v in g.constants() if v.const is not None and v.const.ndim >= 2
                          and v.const.dtype.kind == "f" and v.const.size >= 4])
    out = tmp_path / f"keras1_{case}_pruned.keras"
    write_keras(g, out)
    if not case.startswith("th"):
        _check("keras3", g, out, keras1_x(g), KERAS_FIXTURES)
        return
    # channels_first convolutions: TensorFlow's CPU kernels run NCHW only with oneDNN, which this
    # process turned off (TF_ENABLE_ONEDNN_OPTS=0, set before TensorFlow loads): Keras predicts in a child.
    x = keras1_x(g)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, keras; m = keras.models.load_model(sys.argv[1], compile=False); "
            "np.save(sys.argv[3], np.asarray(m.predict(np.load(sys.argv[2]), verbose=0)))")
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                   env=env, check=True, capture_output=True, timeout=300)
    err = scaled_error(np.load(tmp_path / "y.npy"), run_runtime(g, x)[0])
    ZOO_RESULTS.append({"model": f"{out.stem[:13]}>k3", "format": "keras", "status": "ok" if err <= KERAS_FIXTURES
                        else "FAIL", "rel_err": err})
    assert err <= KERAS_FIXTURES, err


def _mobilenet_v2_pruned(src: Path):
    """MobileNetV2 with every inverted-residual expansion (blocks 1-16) cut by a quarter."""
    g = load_for_pruning(str(src))
    shapes = {v.name: v.shape for v in g.constants()}
    for i in range(1, 17):
        n = shapes[f"block_{i}_expand/kernel"][3]
        keep = [c for c in range(n) if c % 4]
        remove_channels(g, keep, [(f"block_{i}_expand/kernel", 3), *_bn(f"block_{i}_expand_BN"),
                                  (f"block_{i}_depthwise/depthwise_kernel", 3), *_bn(f"block_{i}_depthwise_BN"),
                                  (f"block_{i}_project/kernel", 2)])
    return g


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_channel_pruned_mobilenet_v2(fmt: str, tmp_path: Path) -> None:
    from keras2edge.convert.keras_out import write_keras

    from ..runtime.make_converter_models import zoo_model

    _loader("keras3")
    model = zoo_model("MobileNetV2")
    src = tmp_path / f"mobilenet_v2.{fmt}"
    model.save(str(src))
    params = model.count_params()
    g = _mobilenet_v2_pruned(src)
    out = tmp_path / f"mbv2_pruned.{fmt}"
    write_keras(g, out)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    _check("keras3", g, out, x, ZOO)
    pruned = _loader("keras3")(str(out), compile=False)
    ZOO_RESULTS[-1].update({"params": [params, pruned.count_params()], "bytes": [src.stat().st_size,
                                                                                out.stat().st_size]})
    assert pruned.count_params() < 0.9 * params
    assert out.stat().st_size < 0.9 * src.stat().st_size

"""Hostile and broken Keras files (issue 6 items 1, 2 and 5, Keras side), built at test time.

Each case plants one defect in a copy of a small fixture (``keras_files``). In-process, every case
asserts the exact error class and a message naming the cause; through the CLI in a child process
(``harness``), it asserts exit code 1, one ``Error:`` line, no output or temp file, and a peak RSS
far below what the defect used to take. Files the model points at hold ``SECRET``: no output may
ever contain it.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import keras2edge as k2e
from keras2edge.errors import (InvalidWeightsError, LimitExceededError, ModelFormatError, UnsafeContentError)
from keras2edge.convert.keras.h5guard import WeightReader
from keras2edge.runtime.limits import Limits

from ..corpus import REPO
from .harness import assert_clean_cli_failure, assert_no_leftovers, run_cli
from .keras_files import (ARCH_JSON, FULL_H5, KERAS3, KERNEL_FULL, KERNEL_KERAS3, KERNEL_WEIGHTS, SECRET,
                          WEIGHTS_H5, Plant, full_h5_copy, h5_in_keras, keras_archive, keras_members, model_config,
                          replace_object, secret_file, secret_h5, set_model_config, set_weight, tamper_h5)

# ---------------------------------------------------------------------------- item 1: no read outside the file


def _external_storage(folder: Path) -> Plant:
    target = secret_file(folder, 16 * 32 * 4)

    def plant(group: h5py.Group, name: str, info: Any) -> None:
        group.create_dataset(name, shape=info[0], dtype=info[1], external=[(str(target), 0, 16 * 32 * 4)])
    return plant


def _external_link(folder: Path) -> Plant:
    target = secret_h5(folder, (16, 32))

    def plant(group: h5py.Group, name: str, info: Any) -> None:
        group[name] = h5py.ExternalLink(str(target), "/x")
    return plant


def _virtual(folder: Path, missing: bool = False) -> Plant:
    target = folder / "missing.h5" if missing else secret_h5(folder, (16, 32))

    def plant(group: h5py.Group, name: str, info: Any) -> None:
        layout = h5py.VirtualLayout(shape=info[0], dtype=info[1])
        layout[:] = h5py.VirtualSource(str(target), "x", shape=info[0])
        group.create_virtual_dataset(name, layout)
    return plant


def _soft_loop(folder: Path) -> Plant:
    def plant(group: h5py.Group, name: str, info: Any) -> None:
        group[name] = h5py.SoftLink(f"{group.name}/{name}")
    return plant


#: plant builder, and the message that must name it
OUTSIDE: dict[str, tuple[Callable[[Path], Plant], str]] = {
    "external-storage": (_external_storage, r"external raw storage '.*secret\.bin'"),
    "external-link": (_external_link, r"external link to '/x' in '.*secret\.h5'"),
    "virtual": (_virtual, r"virtual dataset reading from \['.*secret\.h5'\]"),
    "virtual-missing": (lambda d: _virtual(d, missing=True), r"virtual dataset reading from \['.*missing\.h5'\]"),
    "soft-link-loop": (_soft_loop, r"soft link to '.*kernel:0'|soft link to '.*vars/0'"),
}


def _planted(kind: str, container: str, folder: Path) -> tuple[list[str], str]:
    """The CLI arguments (model [--weights w]) of a model whose Dense kernel is the ``kind`` defect."""
    plant = OUTSIDE[kind][0](folder)
    if container == "full-h5":
        return [str(tamper_h5(FULL_H5, folder / "model.h5", KERNEL_FULL, plant))], KERNEL_FULL
    if container == "weights-h5":
        w = tamper_h5(WEIGHTS_H5, folder / "weights.h5", KERNEL_WEIGHTS, plant)
        return [str(ARCH_JSON), "--weights", str(w)], KERNEL_WEIGHTS
    k = h5_in_keras(KERAS3, folder / "model.keras", lambda f: replace_object(f, KERNEL_KERAS3, plant))
    return [str(k)], KERNEL_KERAS3


def _api_args(args: list[str]) -> tuple[str, str | None]:
    return args[0], (args[2] if len(args) > 2 else None)


CONTAINERS = ("full-h5", "weights-h5", "keras-member")


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("kind", sorted(OUTSIDE))
def test_model_pointing_outside_itself_is_refused(kind: str, container: str, tmp_path: Path) -> None:
    args, dataset = _planted(kind, container, tmp_path)
    out = tmp_path / "out" / "m.tflite"
    out.parent.mkdir()
    model, weights = _api_args(args)
    with pytest.raises(UnsafeContentError, match=OUTSIDE[kind][1]) as err:
        k2e.convert_model(model, out, weights=weights)
    assert repr(model if weights is None else weights) in str(err.value)
    assert dataset in str(err.value)
    assert_no_leftovers(out.parent)


@pytest.mark.parametrize("kind,container", [("external-storage", "full-h5"), ("external-link", "weights-h5"),
                                            ("virtual", "keras-member"), ("virtual-missing", "full-h5"),
                                            ("soft-link-loop", "keras-member")])
def test_cli_refuses_model_pointing_outside_itself(kind: str, container: str, tmp_path: Path) -> None:
    args, _ = _planted(kind, container, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for fmt in ("tflite", "onnx"):
        res = run_cli(["convert", *args, "-o", str(out_dir / f"m.{fmt}")])
        assert_clean_cli_failure(res, OUTSIDE[kind][1])
        assert SECRET.decode() not in res.text
    assert_no_leftovers(out_dir)


def test_plain_copy_of_the_same_model_converts_and_holds_no_secret(tmp_path: Path) -> None:
    """The control: the untouched fixture converts; a file with the marker never influences it."""
    secret_file(tmp_path, 4096)
    out = tmp_path / "m.tflite"
    k2e.convert_model(FULL_H5, out)
    assert SECRET not in out.read_bytes()


# ---------------------------------------------------------------------------- item 2: bounded memory


def _padded_archive(dst: Path, member: str, pad: bytes, declare: int | None = None) -> Path:
    """A real archive whose ``member`` is followed by ``pad`` (built here so the big buffers are freed
    before a child is forked: the child's peak RSS counts the parent's pages up to its exec)."""
    members = keras_members()
    members[member] += pad
    return keras_archive(dst, members, declare=None if declare is None else {member: declare})


def test_zip_member_lying_about_its_size_stops_at_the_cap(tmp_path: Path) -> None:
    """A config.json whose header claims 8 KB but which inflates to 200 MB (a 200 KB file) reached
    2.1 GB: zipfile inflated up to 2 GB per read call. Read in 1 MB steps it stops at the declared
    size (the CRC then fails); an honest header is stopped at the 16 MB cap."""
    liar = _padded_archive(tmp_path / "liar.keras", "config.json", b" " * (200 << 20), declare=8192)
    honest = _padded_archive(tmp_path / "honest.keras", "config.json", b" " * (200 << 20))
    assert liar.stat().st_size < 1 << 20
    res = run_cli(["convert", str(liar), "-o", str(tmp_path / "m.onnx")])
    assert_clean_cli_failure(res, r"config\.json: broken or truncated archive member \(Bad CRC-32",
                             rss_bound=200 << 20)
    res = run_cli(["convert", str(honest), "-o", str(tmp_path / "m.onnx")])
    assert_clean_cli_failure(res, r"config\.json holds more than 16777216 bytes when decompressed \(its header "
                                  r"declares 209720\d+\)", rss_bound=200 << 20)
    assert_no_leftovers(tmp_path, {"liar.keras", "honest.keras"})


def test_weights_member_beyond_the_limit_is_refused_by_actual_bytes(tmp_path: Path) -> None:
    """model.weights.h5 declared 30 KB but inflating to 160 MB, with --max-memory 64M: refused while
    being spooled, before h5py sees it; honestly declared, it is refused before decompression."""
    liar = _padded_archive(tmp_path / "liar.keras", "model.weights.h5", bytes(160 << 20), declare=100 << 20)
    honest = _padded_archive(tmp_path / "honest.keras", "model.weights.h5", bytes(160 << 20))
    res = run_cli(["convert", str(liar), "-o", str(tmp_path / "m.tflite"), "--max-memory", "200M"])
    assert_clean_cli_failure(res, r"model\.weights\.h5: broken or truncated archive member \(Bad CRC-32",
                             rss_bound=200 << 20)
    res = run_cli(["inspect", str(honest), "--max-memory", "64M"])
    assert_clean_cli_failure(res, r"archive member 'model\.weights\.h5' declares 160\.\d MiB .* memory limit of "
                                  r"64\.0 MiB", rss_bound=300 << 20)
    assert_no_leftovers(tmp_path, {"liar.keras", "honest.keras"})


def test_compression_methods_keras_never_writes_are_refused(tmp_path: Path) -> None:
    k = keras_archive(tmp_path / "bz.keras", keras_members(), compress=zipfile.ZIP_BZIP2)
    with pytest.raises(ModelFormatError, match=r"compression method 12; supported: stored, deflated"):
        k2e.load(k)


def _lists_archive(dst: Path, count: int) -> Path:
    """An archive whose config.json is ``count`` empty lists in a list (freed before the child forks)."""
    return keras_archive(dst, {"config.json": b"[" + b"[]," * count + b"[]]"})


def test_encrypted_members_are_refused(tmp_path: Path) -> None:
    """A flipped flag bit made zipfile raise NotImplementedError (strong encryption) in fuzz mutant
    keras/101/20435."""
    k = keras_archive(tmp_path / "enc.keras", keras_members())
    data = bytearray(k.read_bytes())
    data[6] |= 0x40  # the first local header's general-purpose flags
    pos = data.find(b"PK\x01\x02")
    data[pos + 8] |= 0x40  # and its central directory entry
    k.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"archive member 'metadata\.json' is encrypted"):
        k2e.load(k)


def test_config_of_many_tiny_lists_is_refused_before_parsing(tmp_path: Path) -> None:
    """250 MB of ``[],`` in 250 KB deflated reached 4 GB; now the text cap stops it at 16 MB, and a
    smaller one is refused from its item count against --max-memory."""
    k = _lists_archive(tmp_path / "lists.keras", 80 << 20)
    res = run_cli(["convert", str(k), "-o", str(tmp_path / "m.onnx")])
    assert_clean_cli_failure(res, r"config\.json holds more than 16777216 bytes", rss_bound=300 << 20)
    k = _lists_archive(tmp_path / "lists2.keras", 4 << 20)
    res = run_cli(["convert", str(k), "-o", str(tmp_path / "m.onnx"), "--max-memory", "256M"])
    assert_clean_cli_failure(res, r"config\.json: JSON with \d+ items once parsed declares .* memory limit",
                             rss_bound=300 << 20)
    assert_no_leftovers(tmp_path, {"lists.keras", "lists2.keras"})


@pytest.mark.parametrize("depth,pattern", [(100_000, r"nested deeper than Python can parse"),
                                           (500, r"nested 5\d\d levels deep; a Keras config nests at most 100")])
def test_deeply_nested_config_is_refused(depth: int, pattern: str, tmp_path: Path) -> None:
    cfg = model_config()
    cfg["config"]["layers"][1]["config"]["deep"] = json.loads("[" * 90 + "]" * 90)  # deep but allowed
    nested = "[" * depth + "]" * depth
    text = json.dumps(cfg).replace('"deep": ' + json.dumps(cfg["config"]["layers"][1]["config"]["deep"]), '"deep": '
                                   + nested)
    h5 = set_model_config(full_h5_copy(tmp_path), text)
    with pytest.raises(ModelFormatError, match=pattern):
        k2e.load(h5)
    k = keras_archive(tmp_path / "deep.keras", {**keras_members(), "config.json": text.encode()})
    res = run_cli(["convert", str(k), "-o", str(tmp_path / "m.tflite")])
    assert_clean_cli_failure(res, pattern)
    assert_no_leftovers(tmp_path, {"model.h5", "deep.keras"})


def test_never_written_chunked_dataset_is_not_read(tmp_path: Path) -> None:
    """A 2.16 GB chunked dataset that was never written (the file stays small) was read whole."""
    def plant(group: h5py.Group, name: str, info: Any) -> None:
        group.create_dataset(name, shape=(540_000_000,), dtype="f4", chunks=(1 << 20,))
    h5 = tamper_h5(FULL_H5, tmp_path / "model.h5", KERNEL_FULL, plant)
    assert h5.stat().st_size < 100 << 10
    res = run_cli(["convert", str(h5), "-o", str(tmp_path / "m.tflite")])
    assert_clean_cli_failure(res, r"kernel:0' declares shape \(540000000,\) but only 0 of its 515 chunks were "
                                  r"ever written")
    res = run_cli(["inspect", str(h5), "--max-memory", "1G"])
    assert_clean_cli_failure(res, r"dataset '/model_weights/dense/dense/kernel:0' \(shape \(540000000,\), float32\) "
                                  r"declares 2\.0 GiB .* memory limit of 1\.0 GiB")
    assert_no_leftovers(tmp_path, {"model.h5"})


def test_total_weight_bytes_are_bounded() -> None:
    reader = WeightReader(Limits(max_memory=4096))  # every array is under 4 KB, their sum is not
    with h5py.File(WEIGHTS_H5) as f, pytest.raises(LimitExceededError, match=r"'w': the weights read so far "
                                                                            r"declares 5\.0 KiB .* limit of 4\.0 KiB"):
        for path in ("dense/dense/kernel:0", "dense_1/dense_1/kernel:0"):
            reader.read(f[path], "'w'")


# ---------------------------------------------------------------------------- item 5: user errors, not internal


def _soft_link_loop(f: h5py.File) -> None:
    f["model_weights/dense/loop"] = h5py.SoftLink("/model_weights/dense/loop")


def _dataset_for_group(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["model_weights/dense"]
        f["model_weights/dense"] = np.zeros(3, np.float32)


def test_dataset_where_a_layer_group_belongs(tmp_path: Path) -> None:
    h5 = full_h5_copy(tmp_path)
    _dataset_for_group(h5)
    with pytest.raises(ModelFormatError, match=r"layer 'dense': expected a group, found a Dataset"):
        k2e.load(h5)


def test_group_where_a_weight_belongs(tmp_path: Path) -> None:
    h5 = tamper_h5(FULL_H5, tmp_path / "model.h5", KERNEL_FULL, lambda g, n, i: g.create_group(n))
    res = run_cli(["convert", str(h5), "-o", str(tmp_path / "m.onnx")])
    assert_clean_cli_failure(res, r"weight '/model_weights/dense/dense/kernel:0': expected a dataset \(a weight "
                                  r"array\), found a Group")
    assert_no_leftovers(tmp_path, {"model.h5"})


@pytest.mark.parametrize("config,pattern", [
    (np.int64(5), r"model_config attribute is a int64 .*expected a JSON string"),
    ("[1, 2]", r"the model config has no class_name"),
    ("5", r"the model config has no class_name"),
    ('"text"', r"the model config has no class_name"),
])
def test_model_config_of_the_wrong_type(config: Any, pattern: str, tmp_path: Path) -> None:
    h5 = set_model_config(full_h5_copy(tmp_path), config)
    with pytest.raises(ModelFormatError, match=pattern):
        k2e.load(h5)


@pytest.mark.parametrize("dims,bad", [([None, -5], "-5"), ([None, 2**31], str(2**31)), ([None, 28.5], "28.5"),
                                      ([None, 0], "0"), ([None, True], "True"), (16, "16")])
def test_input_dims_must_be_positive_integers(dims: Any, bad: str, tmp_path: Path) -> None:
    cfg = model_config()
    cfg["config"]["layers"][0]["config"]["batch_input_shape"] = dims
    h5 = set_model_config(full_h5_copy(tmp_path), cfg)
    with pytest.raises(ModelFormatError, match=rf"batch_input_shape of Keras layer 'x' \(InputLayer\) is .*{bad}"):
        k2e.load(h5)


def test_input_dims_from_the_command_line_are_checked(tmp_path: Path) -> None:
    res = run_cli(["convert", str(FULL_H5), "-o", str(tmp_path / "m.onnx"), "--input-shape", "x:1,0"])
    assert_clean_cli_failure(res, r"input shape of 'x' \(input_shapes= / --input-shape\) = \[1, 0\]: dim 0 is out of "
                                  r"range; each dim must be a positive integer")
    assert_no_leftovers(tmp_path)


def test_input_larger_than_the_limit(tmp_path: Path) -> None:
    cfg = model_config()
    cfg["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 2**31 - 1]
    h5 = set_model_config(full_h5_copy(tmp_path), cfg)
    with pytest.raises(LimitExceededError, match=r"input 'x' of shape \[None, 2147483647\] declares 8\.0 GiB"):
        k2e.load(h5)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float64", "float16"])
def test_weights_of_other_real_dtypes_are_cast_like_keras(dtype: str, tmp_path: Path) -> None:
    """Keras assigns a stored int/bool array to its float32 variable; so does keras2edge."""
    kernel = (np.arange(16 * 32).reshape(16, 32) % 3).astype(dtype)
    h5 = set_weight(full_h5_copy(tmp_path), KERNEL_FULL, kernel)
    g = k2e.load(h5, cleanup=False)
    kernel = next(v for v in g.constants() if v.name.startswith("dense/"))
    assert kernel.const.dtype == np.float32 and kernel.const.shape == (16, 32)


@pytest.mark.parametrize("values,pattern", [
    (np.ones((16, 32), np.complex64), r"a weight of dtype complex64; expected a float, integer or bool array"),
    (np.array([[b"ab"] * 32] * 16), r"a weight of dtype \|S2; expected a float, integer or bool array"),
])
def test_weights_of_non_numeric_dtypes_are_refused(values: np.ndarray, pattern: str, tmp_path: Path) -> None:
    h5 = set_weight(full_h5_copy(tmp_path), KERNEL_FULL, values)
    with pytest.raises(ModelFormatError, match=r"weight '/model_weights/dense/dense/kernel:0': " + pattern):
        k2e.load(h5)


def test_nonfinite_weights_are_refused_or_warned(tmp_path: Path) -> None:
    kernel = np.ones((16, 32), np.float32)
    kernel[3, 4], kernel[5, 6] = np.nan, np.inf
    h5 = set_weight(full_h5_copy(tmp_path), KERNEL_FULL, kernel)
    res = run_cli(["convert", str(h5), "-o", str(tmp_path / "m.tflite")])
    assert_clean_cli_failure(res, r"Keras layer 'dense' \(Dense\): weight 'kernel' holds 2 NaN/Inf values; "
                                  r"refusing .*--allow-nonfinite")
    assert_no_leftovers(tmp_path, {"model.h5"})
    res = run_cli(["convert", str(h5), "-o", str(tmp_path / "m.tflite"), "--allow-nonfinite"])
    assert res.returncode == 0, res.text
    assert "Keras layer 'dense' (Dense): weight 'kernel' holds 2 NaN/Inf values; converting it anyway" in res.stderr
    assert (tmp_path / "m.tflite").stat().st_size > 0


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")  # allowed, so NaN
def test_negative_batchnorm_variance_is_refused_or_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    var = np.ones(32, np.float32)
    var[7] = -0.5
    h5 = set_weight(full_h5_copy(tmp_path), "model_weights/batch_normalization/batch_normalization/"
                                            "moving_variance:0", var)
    with pytest.raises(InvalidWeightsError, match=r"Keras layer 'batch_normalization' \(BatchNormalization\): "
                                                  r"moving_variance has 1 negative value"):
        k2e.load(h5)
    k2e.load(h5, allow_nonfinite=True)
    assert "moving_variance has 1 negative value; converting it anyway" in caplog.text


def test_weights_of_a_keras3_archive_member_are_checked_too(tmp_path: Path) -> None:
    def nan_kernel(f: h5py.File) -> None:
        data = f[KERNEL_KERAS3][()]
        data[0, 0] = np.nan
        f[KERNEL_KERAS3][...] = data
    k = h5_in_keras(KERAS3, tmp_path / "m.keras", nan_kernel)
    with pytest.raises(InvalidWeightsError, match=r"Keras layer 'dense' \(Dense\): weight '0' holds 1 NaN/Inf"):
        k2e.load(k)


def test_soft_link_loop_in_an_unused_group_is_refused(tmp_path: Path) -> None:
    h5 = full_h5_copy(tmp_path)
    with h5py.File(h5, "r+") as f:
        _soft_link_loop(f)
    with pytest.raises(UnsafeContentError, match=r"'/model_weights/dense/loop' is a soft link to "
                                                 r"'/model_weights/dense/loop'"):
        k2e.load(h5)


# ---------------------------------------------------------------------------- found by the fuzz test


def test_global_heap_that_would_hang_hdf5_is_refused(tmp_path: Path) -> None:
    """An index-0, size-0 object in the global heap holding model_config: HDF5 2.0 loops forever
    reading it (fuzz mutant h5/2/183). Refused from the raw bytes; run in a child, so a regression
    shows as a timeout rather than a stuck suite."""
    data = bytearray(FULL_H5.read_bytes())
    heap = data.find(b"GCOL")
    data[heap + 16:heap + 32] = bytes(16)  # the first object header: index 0, size 0
    h5 = tmp_path / "model.h5"
    h5.write_bytes(bytes(data))
    res = run_cli(["convert", str(h5), "-o", str(tmp_path / "m.tflite")], timeout=60)
    assert_clean_cli_failure(res, rf"corrupt HDF5 global heap at offset {heap} \(an empty free-space object")
    assert_no_leftovers(tmp_path, {"model.h5"})


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9])
def test_truncated_hdf5_is_a_model_format_error(cut: float, tmp_path: Path) -> None:
    data = FULL_H5.read_bytes()
    h5 = tmp_path / "model.h5"
    h5.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(ModelFormatError, match=r"model\.h5'.*(cannot read the HDF5|truncated or corrupt)"):
        k2e.load(h5)


def test_hard_link_cycle_is_walked_once(tmp_path: Path) -> None:
    h5 = full_h5_copy(tmp_path)
    with h5py.File(h5, "r+") as f:
        f["model_weights/dense/cycle"] = f["model_weights"]  # a group that contains itself
    graph = k2e.load(h5)
    assert [v.name for v in graph.outputs] == ["probs"]


def test_number_of_hdf5_objects_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keras2edge.convert.keras import h5guard

    monkeypatch.setattr(h5guard, "MAX_H5_OBJECTS", 40)
    h5 = full_h5_copy(tmp_path)
    with h5py.File(h5, "r+") as f:
        junk = f.create_group("junk")
        for i in range(41):
            junk[str(i)] = f[KERNEL_FULL]
    with pytest.raises(ModelFormatError, match=r"more than 40 HDF5 objects; not a Keras file"):
        k2e.load(h5)


def _edited_keras3(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    members = keras_members(FIXTURES_CNN1D)
    cfg = json.loads(members["config.json"])
    edit(cfg)
    members["config.json"] = json.dumps(cfg).encode()
    return keras_archive(tmp_path / "m.keras", members)


def _layer(cfg: dict[str, Any], i: int) -> dict[str, Any]:
    return cfg["config"]["layers"][i]


FIXTURES_CNN1D = KERAS3.parent / "cnn1d.keras"
CONFIG_FAULTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "module-not-a-string": (lambda c: _layer(c, 1).update(module=5),
                            r"layer 'conv1d' \(Conv1D\) has module 5; expected a string or null"),
    "keras-history-short": (lambda c: _layer(c, 1)["inbound_nodes"][0]["args"][0]["config"].update(
        keras_history=["signal", 0]), r"keras_history \['signal', 0\]; expected \[layer_name, node_index"),
    "layers-not-a-list": (lambda c: c["config"].update(layers={"a": 1}),
                          r"the model's layers are a dict; expected a list of layer objects"),
    "output-ref-not-int": (lambda c: c["config"].update(output_layers=[["conv1d", "x", 0]]),
                           r"cannot read model input/output entry \['conv1d', 'x', 0\]"),
    "pool-larger-than-input": (lambda c: _layer(c, 9)["config"].update(pool_size=[40]),
                               r"Keras layer 'max_pooling1d' \(MaxPooling1D\) would output shape \(\?, 0, 5\): "
                               r"its config .* does not fit its input shape \(\?, 16, 5\)"),
    "inbound-nodes-not-a-list": (lambda c: _layer(c, 1).update(inbound_nodes=2.5),
                                 r"layer 'conv1d' has inbound_nodes 2\.5; expected a list"),
    "filters-not-a-number": (lambda c: _layer(c, 1)["config"].update(filters=[6]),
                             r"Keras layer 'conv1d' \(Conv1D\) cannot be imported: its config, weights or input "
                             r"shapes are not what Keras writes"),
}


def test_config_ints_beyond_int32_are_refused(tmp_path: Path) -> None:
    """A stride of 2**63 in a 'same'-padded conv kept every shape valid and reached the TFLite writer."""
    members = keras_members(REPO_EXAMPLE)
    cfg = json.loads(members["config.json"])
    _layer(cfg, 6)["config"].update(strides=[2**63, 1])
    members["config.json"] = json.dumps(cfg).encode()
    k = keras_archive(tmp_path / "m.keras", members)
    with pytest.raises(ModelFormatError, match=r"Keras layer 'pw2' \(Conv2D\): strides=9223372036854775808 from its "
                                               r"config does not fit in 32 bits"):
        k2e.load(k)


REPO_EXAMPLE = REPO / "examples" / "tiny_cnn.keras"


@pytest.mark.parametrize("fault", sorted(CONFIG_FAULTS))
def test_config_faults_found_by_fuzzing_name_the_cause(fault: str, tmp_path: Path) -> None:
    edit, pattern = CONFIG_FAULTS[fault]
    with pytest.raises(ModelFormatError, match=pattern):
        k2e.load(_edited_keras3(tmp_path, edit))


def test_zip_asking_for_a_newer_zip_version_is_a_model_format_error(tmp_path: Path) -> None:
    """Found by the long .keras fuzz campaign (seed 303, mutant 82526): zipfile raised NotImplementedError."""
    import struct

    data = bytearray((REPO / "examples" / "tiny_cnn.keras").read_bytes())
    cd = data.find(b"PK\x01\x02")  # the first central directory entry; 'version needed' is at +6
    struct.pack_into("<H", data, cd + 6, 84)
    bad = tmp_path / "m.keras"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"zip archive keras2edge cannot read \(zip file version 8.4\)"):
        k2e.load(bad)

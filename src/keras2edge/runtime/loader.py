"""Loading: model source -> :class:`LoadedGraph` (parsed model, one subgraph, kernels resolved).

A path, bytes or a :class:`~.model.Model` is parsed by :func:`.reader.load_model` (zero copy; weights
are ``np.frombuffer`` views). For the chosen subgraph, every tensor index an operator or the graph
names is checked, the declared sizes are held to the limits, constants become views of their buffers,
and every operator's kernel is looked up in :data:`.kernels.KERNELS` by ``(builtin name, dtype of its
main input)``; all unsupported ops are reported at once. The result is what planning
(:mod:`.prepare`) and running (:mod:`.runner`) read; nothing here depends on input shapes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import numpy as np

from .codes import NUMPY_DTYPES, tensor_type_name
from .errors import RuntimeModelError
from .kernels import DTYPE_INPUT, KERNELS, PrepareFn, supported_ops
from .limits import Limits
from .model import Model, SubGraph
from .schema import BUILTIN_OPERATOR_NAMES
from .validate import check_dataflow, check_declared_sizes, check_types

ModelSource = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]", Model]
_TensorCheck = Callable[[int, str], int]  # (tensor index, where it is named) -> the index, checked


@dataclass(frozen=True)
class OpInfo:
    """One operator of the model, as listed by :attr:`Interpreter.ops` and passed to run observers."""

    index: int
    name: str  # TFLite builtin name, e.g. "CONV_2D"
    version: int
    inputs: tuple[str | None, ...]  # tensor names; None for an omitted optional input
    outputs: tuple[str, ...]
    dtype: str  # dtype of the main input, which selects the kernel
    input_indices: tuple[int, ...] = ()  # tensor indices in the subgraph; -1 for an omitted optional input
    output_indices: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoadedGraph:
    """One subgraph of a parsed model, validated, with its constants and every operator's kernel."""

    model: Model
    subgraph: int
    sg: SubGraph
    source: str  # how errors name the model
    dtypes: tuple[np.dtype, ...]  # per tensor (uint8 for a type without a NumPy dtype: never bound)
    consts: dict[int, np.ndarray]  # tensor index -> view of its buffer
    ops: tuple[OpInfo, ...]
    prepare_fns: tuple[PrepareFn, ...]  # per operator
    inputs: tuple[int, ...]  # graph input / output tensor indices
    outputs: tuple[int, ...]
    input_names: tuple[str, ...]  # the signature's names, else the tensor names
    output_names: tuple[str, ...]


def source_name(model: ModelSource) -> str:
    """How error messages name the model: its path, or "the model" for bytes and Model objects."""
    return repr(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else "the model"


def read_model(model: ModelSource, limits: Limits) -> Model:
    """Parse a path or bytes (a Model is returned as is); the file's size is held to ``limits`` first."""
    if isinstance(model, Model):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model) if not isinstance(model, bytes) else model
    elif isinstance(model, (str, os.PathLike)):
        try:
            with open(model, "rb") as f:
                limits.check(os.fstat(f.fileno()).st_size, f"{source_name(model)}: the file")
                data = f.read()
        except OSError as e:
            raise RuntimeModelError(f"cannot read model file {os.fspath(model)!r}: {e.strerror or e}") from e
    else:
        raise TypeError(f"Interpreter(model): expected a path, bytes or a runtime Model, got {type(model).__name__}")
    from .reader import load_model

    return load_model(data)


def load_graph(model: ModelSource, subgraph: int, limits: Limits) -> LoadedGraph:
    """Read ``model`` and resolve subgraph ``subgraph`` (see the module docstring).

    Raises:
        RuntimeModelError: malformed file, bad tensor indices, an op or dtype without a kernel (all of
            them listed), a tensor read before it is written, or an input with a negative dim.
        LimitExceededError: a declared tensor exceeds the memory limit.
    """
    source = source_name(model)
    m = read_model(model, limits)
    if not 0 <= subgraph < len(m.subgraphs):
        raise RuntimeModelError(f"the model has {len(m.subgraphs)} subgraph(s); subgraph {subgraph} does not exist")
    sg = m.subgraphs[subgraph]
    nt = len(sg.tensors)
    dtypes = tuple(NUMPY_DTYPES.get(t.type, np.dtype(np.uint8)) for t in sg.tensors)
    check_declared_sizes(sg, dtypes, limits, source)

    def tensor(i: int, where: str) -> int:
        if not -1 <= i < nt:
            raise RuntimeModelError(f"{where} refers to tensor {i}, but subgraph {subgraph} has {nt} tensors")
        return i

    consts = _constants(m, subgraph)
    ops, prepare_fns = _resolve_kernels(m, sg, tensor)
    ins = tuple(tensor(i, "subgraph input") for i in sg.inputs)
    outs = tuple(tensor(i, "subgraph output") for i in sg.outputs)
    check_types(sg, NUMPY_DTYPES, source)
    check_dataflow(sg, [o.name for o in ops],
                   {i for i, t in enumerate(sg.tensors) if t.buffer and m.buffers[t.buffer].size}, source)
    sig_names: dict[int, str] = {}
    for sig in m.signature_defs:
        if sig.subgraph_index == subgraph:
            sig_names.update({t: n for n, t in sig.inputs})
            sig_names.update({t: n for n, t in sig.outputs})
            break
    input_names = tuple(sig_names.get(i, sg.tensors[i].name) for i in ins)
    output_names = tuple(sig_names.get(i, sg.tensors[i].name) for i in outs)
    for k, i in enumerate(ins):
        if any(d < 0 for d in sg.tensors[i].shape):
            raise RuntimeModelError(f"input '{input_names[k]}' has shape {list(sg.tensors[i].shape)}: "
                                    "dims must be >= 0 (a dynamic dim is -1 in shape_signature, not in shape)")
    return LoadedGraph(m, subgraph, sg, source, dtypes, consts, ops, prepare_fns, ins, outs, input_names,
                       output_names)


def _constants(m: Model, subgraph: int) -> dict[int, np.ndarray]:
    """Tensor index -> zero-copy view of its buffer, for every tensor with data and a NumPy dtype."""
    consts: dict[int, np.ndarray] = {}
    for i, t in enumerate(m.subgraphs[subgraph].tensors):
        if t.type not in NUMPY_DTYPES:
            continue
        try:
            data = m.tensor_data(subgraph, i)
        except (ValueError, IndexError) as e:
            raise RuntimeModelError(f"tensor {i} ('{t.name}'): its buffer {t.buffer} does not hold "
                                    f"{list(t.shape)} x {tensor_type_name(t.type)}: {e}") from e
        if data is not None:
            consts[i] = data
    return consts


def _resolve_kernels(m: Model, sg: SubGraph, tensor: _TensorCheck) -> tuple[tuple[OpInfo, ...], tuple[PrepareFn, ...]]:
    """Every operator's description and prepare function; all missing kernels reported in one error."""
    ops: list[OpInfo] = []
    fns: list[PrepareFn] = []
    missing: dict[str, list[int]] = {}  # "CONV_2D on int8 (...)" -> op indices
    for k, op in enumerate(sg.operators):
        if not 0 <= op.opcode_index < len(m.operator_codes):
            raise RuntimeModelError(f"op #{k} uses opcode_index {op.opcode_index}, but the model has "
                                    f"{len(m.operator_codes)} operator codes")
        code = m.operator_codes[op.opcode_index]
        bc = max(code.builtin_code, code.deprecated_builtin_code or 0)
        name = BUILTIN_OPERATOR_NAMES.get(bc, f"BUILTIN_{bc}")
        if name == "CUSTOM" or code.custom_code:
            name = f"CUSTOM({code.custom_code})"
        ins = tuple(tensor(i, f"op #{k} {name} input") for i in op.inputs)
        outs = tuple(tensor(i, f"op #{k} {name} output") for i in op.outputs)
        main = DTYPE_INPUT.get(name, 0)
        if main < len(ins) and ins[main] >= 0:
            ttype = sg.tensors[ins[main]].type
        elif outs:
            ttype = sg.tensors[outs[0]].type
        else:
            ttype = 0
        dtype = NUMPY_DTYPES[ttype].name if ttype in NUMPY_DTYPES else tensor_type_name(ttype).lower()
        ops.append(OpInfo(k, name, code.version, tuple(sg.tensors[i].name if i >= 0 else None for i in ins),
                          tuple(sg.tensors[i].name for i in outs), dtype, ins, outs))
        fn = KERNELS.get((name, dtype))
        if fn is None:
            have = sorted(d for o, d in KERNELS if o == name)
            why = f"on {dtype} (kernels exist for {', '.join(have)})" if have else "(no kernel)"
            missing.setdefault(f"{name} {why}", []).append(k)
        else:
            fns.append(fn)
    if missing:
        def where(ks: list[int]) -> str:
            shown = ", ".join(f"#{k}" for k in ks[:8]) + (f", ... ({len(ks)} ops)" if len(ks) > 8 else "")
            return f"op{'s' if len(ks) > 1 else ''} {shown}"
        what = "; ".join(f"{where(ks)} {key}" for key, ks in missing.items())
        raise RuntimeModelError(f"keras2edge.runtime cannot run this model: unsupported {what}. "
                                f"Supported ops: {', '.join(supported_ops())}")
    return tuple(ops), tuple(fns)

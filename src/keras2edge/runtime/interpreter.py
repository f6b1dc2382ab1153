"""The interpreter: run a ``.tflite`` model with NumPy kernels and one planned memory arena.

Usage::

    from keras2edge.runtime import Interpreter
    it = Interpreter("model.tflite")
    probs = it.run(x)                      # single-input, single-output model: array in, array out
    outs = it.run({"img": x})              # dict by input name -> dict by output name (if several)
    it.get_input_details()                 # like LiteRT's
    it.arena_bytes                         # planned intermediate memory for the current shapes

What happens:

1. Load: the bytes are parsed by :func:`keras2edge.runtime.reader.load_model` (zero copy; weights are
   ``np.frombuffer`` views). Every operator's kernel is looked up in ``kernels.KERNELS`` by
   ``(op name, dtype of its main input)``; all unsupported ops are reported at once.
2. Prepare (once per set of input shapes, cached): every kernel's prepare step runs in op order,
   validating the node and computing output shapes and precomputed data. Ops whose inputs are all
   known at prepare time (constants, tensor shapes) are evaluated there and become constants when
   their results are small (``FOLD_MAX_BYTES``); this folds the converter's SHAPE / STRIDED_SLICE /
   PACK plumbing for dynamic batch. Every shape is held to the memory limits as it is computed. Then the lifetimes
   of all remaining intermediate tensors (and kernels' scratch buffers) are planned into one arena
   (:mod:`keras2edge.runtime.planner`); graph inputs, graph outputs and constants are not in it.
3. Run: inputs are checked and copied into their buffers, each op's eval writes into its planned
   views, and graph outputs are fresh arrays owned by the caller.

Dynamic shapes: an input dim whose ``shape_signature`` is -1 (normally the batch) accepts any size;
a new shape gets its own prepared plan (kept in a small cache). Other dims must match the file.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .errors import LimitExceededError, RuntimeModelError
from .kernels import DTYPE_INPUT, KERNELS, OpContext, TensorSpec, supported_ops
from .limits import ENV_VAR, Limits, format_size, resolve
from .codes import NUMPY_DTYPES as _TYPES
from .codes import tensor_type_name
from .model import Model
from .planner import ALIGNMENT, ArenaPlan, Buffer, plan_arena
from .validate import check_dataflow, check_declared_sizes, check_types, tensor_nbytes

log = logging.getLogger("keras2edge.runtime")

ModelSource = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]", Model]
MAX_CACHED_PLANS = 8
#: Ops whose inputs are all known at prepare time are evaluated there (constant folding) when their
#: outputs take at most this many bytes: shape plumbing and dequantized weights. A bigger result (a
#: BROADCAST_TO of a constant to gigabytes) is computed at run time in the planned arena, so it is
#: counted in the arena total that is checked against the limits before anything is allocated.
FOLD_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class OpInfo:
    """One operator of the model, as listed by :attr:`Interpreter.ops`."""

    index: int
    name: str  # TFLite builtin name, e.g. "CONV_2D"
    version: int
    inputs: tuple[str | None, ...]  # tensor names; None for an omitted optional input
    outputs: tuple[str, ...]
    dtype: str  # dtype of the main input, which selects the kernel


@dataclass
class _Step:
    op: int
    eval: Any
    inputs: tuple[int, ...]  # tensor indices, -1 omitted
    outputs: tuple[int, ...]
    ntmp: int
    alias: bool = False  # output 0 is bound as a view of an input: nothing to run


class _Plan:
    """Everything prepared for one set of input shapes."""

    def __init__(self) -> None:
        self.shapes: dict[int, tuple[int, ...]] = {}
        self.consts: dict[int, np.ndarray] = {}  # file constants and values folded at prepare
        self.steps: list[_Step] = []
        self.tmp: list[list[np.ndarray]] = []  # per step: scratch arrays
        self.bufs: list[np.ndarray | None] = []  # per tensor: bound array (arena view, input buffer, const)
        self.aliases: list[tuple[int, int]] = []  # (output tensor, root tensor) bound as views
        self.arena: ArenaPlan | None = None
        self.arena_bytes = 0
        self.tensor_offsets: dict[int, int] = {}
        self.scratch_offsets: dict[tuple[int, int], int] = {}
        self.scratch_specs: dict[int, list[tuple[tuple[int, ...], np.dtype]]] = {}
        self.keep = False


def _load(model: ModelSource, limits: Limits) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model) if not isinstance(model, bytes) else model
    elif isinstance(model, (str, os.PathLike)):
        try:
            with open(model, "rb") as f:
                limits.check(os.fstat(f.fileno()).st_size, f"{_source_name(model)}: the file")
                data = f.read()
        except OSError as e:
            raise RuntimeModelError(f"cannot read model file {os.fspath(model)!r}: {e.strerror or e}") from e
    else:
        raise TypeError(f"Interpreter(model): expected a path, bytes or a runtime Model, got {type(model).__name__}")
    from .reader import load_model

    return load_model(data)


def _source_name(model: ModelSource) -> str:
    """How error messages name the model: its path, or "the model" for bytes and Model objects."""
    return repr(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else "the model"


def _op_names() -> dict[int, str]:
    from . import schema

    return dict(schema.BUILTIN_OPERATOR_NAMES)


def _same_shape(declared, signature, computed) -> bool:
    """The file's shape agrees with the computed one, ignoring dims the signature marks dynamic (-1)."""
    if len(declared) != len(computed):
        return False
    sig = signature if signature and len(signature) == len(declared) else declared
    return all(s == -1 or d == c for d, s, c in zip(declared, sig, computed))


def _aligned_empty(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    off = (-raw.ctypes.data) % ALIGNMENT
    return raw[off:off + nbytes]


class Interpreter:
    """Run a ``.tflite`` model with NumPy.

    Args:
        model: a path to a ``.tflite`` file, its bytes, or a :class:`keras2edge.runtime.model.Model`.
        num_threads: accepted for LiteRT compatibility and ignored (NumPy's BLAS decides; set
            ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` before starting Python to pin it).
        keep_intermediates: keep every tensor of the last run in :attr:`intermediates` (name -> array).
            Tensors then get their own memory instead of sharing the arena (more memory, for debugging
            and calibration). :meth:`run` can also switch it per call.
        subgraph: which subgraph to run (0, the main graph, by default).
        limits: memory limits (default :meth:`Limits.default`): every tensor the file declares, every
            shape computed at prepare time (constant folding included), kernel scratch and the planned
            arena are held to ``limits.max_memory`` before anything is allocated.

    Raises:
        RuntimeModelError: the file is malformed, uses an op or dtype without a kernel (all listed),
            a kernel rejects a node (the message names the op index, op and tensors), or a tensor
            would be read before anything writes it.
        LimitExceededError: a tensor or the arena would exceed the memory limit (the message names
            the file, the tensor and its shape).
    """

    def __init__(self, model: ModelSource, *, num_threads: int | None = None, keep_intermediates: bool = False,
                 subgraph: int = 0, limits: Limits | None = None) -> None:
        self._limits = resolve(limits)
        self._source = _source_name(model)
        self._model = _load(model, self._limits)
        if not 0 <= subgraph < len(self._model.subgraphs):
            raise RuntimeModelError(f"the model has {len(self._model.subgraphs)} subgraph(s); "
                                    f"subgraph {subgraph} does not exist")
        self._sgi = subgraph
        self._sg = sg = self._model.subgraphs[subgraph]
        self.num_threads = num_threads
        self.keep_intermediates = keep_intermediates
        self.intermediates: dict[str, np.ndarray] = {}
        self.shape_mismatches: list[str] = []  # file shapes that differ from the computed ones (logged)
        nt = len(sg.tensors)
        check_declared_sizes(sg, [_TYPES.get(t.type, np.dtype(np.uint8)) for t in sg.tensors], self._limits,
                             self._source)

        def tensor(i: int, where: str) -> int:
            if not -1 <= i < nt:
                raise RuntimeModelError(f"{where} refers to tensor {i}, but subgraph {subgraph} has {nt} tensors")
            return i

        # Constants: zero-copy views of the file's buffers.
        self._consts: dict[int, np.ndarray] = {}
        for i, t in enumerate(sg.tensors):
            if t.type not in _TYPES:
                continue
            try:
                data = self._model.tensor_data(subgraph, i)
            except (ValueError, IndexError) as e:
                raise RuntimeModelError(f"tensor {i} ('{t.name}'): its buffer {t.buffer} does not hold "
                                        f"{list(t.shape)} x {tensor_type_name(t.type)}: {e}") from e
            if data is not None:
                self._consts[i] = data

        # Operators and their kernels.
        names = _op_names()
        self._ops: list[OpInfo] = []
        self._prepare_fns = []
        missing: dict[str, list[int]] = {}  # "CONV_2D on int8 (...)" -> op indices
        for k, op in enumerate(sg.operators):
            if not 0 <= op.opcode_index < len(self._model.operator_codes):
                raise RuntimeModelError(f"op #{k} uses opcode_index {op.opcode_index}, but the model has "
                                        f"{len(self._model.operator_codes)} operator codes")
            code = self._model.operator_codes[op.opcode_index]
            bc = max(code.builtin_code, code.deprecated_builtin_code or 0)
            name = names.get(bc, f"BUILTIN_{bc}")
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
            dtype = _TYPES[ttype].name if ttype in _TYPES else tensor_type_name(ttype).lower()
            self._ops.append(OpInfo(k, name, code.version, tuple(sg.tensors[i].name if i >= 0 else None for i in ins),
                                    tuple(sg.tensors[i].name for i in outs), dtype))
            fn = KERNELS.get((name, dtype))
            if fn is None:
                have = sorted(d for o, d in KERNELS if o == name)
                why = f"on {dtype} (kernels exist for {', '.join(have)})" if have else "(no kernel)"
                missing.setdefault(f"{name} {why}", []).append(k)
            self._prepare_fns.append(fn)
        if missing:
            def where(ks: list[int]) -> str:
                shown = ", ".join(f"#{k}" for k in ks[:8]) + (f", ... ({len(ks)} ops)" if len(ks) > 8 else "")
                return f"op{'s' if len(ks) > 1 else ''} {shown}"
            what = "; ".join(f"{where(ks)} {key}" for key, ks in missing.items())
            raise RuntimeModelError(f"keras2edge.runtime cannot run this model: unsupported {what}. "
                                    f"Supported ops: {', '.join(supported_ops())}")

        # Graph inputs and outputs, named after the signature when there is one.
        self._in = [tensor(i, "subgraph input") for i in sg.inputs]
        self._out = [tensor(i, "subgraph output") for i in sg.outputs]
        check_types(sg, _TYPES, self._source)
        check_dataflow(sg, [o.name for o in self._ops],
                       {i for i, t in enumerate(sg.tensors) if t.buffer and self._model.buffers[t.buffer].size},
                       self._source)
        sig_names: dict[int, str] = {}
        for sig in self._model.signature_defs:
            if sig.subgraph_index == subgraph:
                sig_names.update({t: n for n, t in sig.inputs})
                sig_names.update({t: n for n, t in sig.outputs})
                break
        self.input_names = [sig_names.get(i, sg.tensors[i].name) for i in self._in]
        self.output_names = [sig_names.get(i, sg.tensors[i].name) for i in self._out]
        self._in_lookup = {n: k for k, n in enumerate(self.input_names)}
        self._in_lookup.update({sg.tensors[i].name: k for k, i in enumerate(self._in)
                                if sg.tensors[i].name not in self._in_lookup})
        for k, i in enumerate(self._in):
            if any(d < 0 for d in sg.tensors[i].shape):
                raise RuntimeModelError(f"input '{self.input_names[k]}' has shape {list(sg.tensors[i].shape)}: "
                                        "dims must be >= 0 (a dynamic dim is -1 in shape_signature, not in shape)")

        self._plans: OrderedDict[tuple, _Plan] = OrderedDict()
        self._memo: dict = {}  # kernels' per-op precomputed weights, shared by all plans
        self._file_shapes = tuple(tuple(sg.tensors[i].shape) for i in self._in)
        self._plan = self._get_plan(self._file_shapes, keep_intermediates)

    # ------------------------------------------------------------------------------ public info
    @property
    def model(self) -> Model:
        return self._model

    @property
    def ops(self) -> list[OpInfo]:
        """Every operator in execution order: index, name, version, input/output tensor names, dtype."""
        return list(self._ops)

    @property
    def arena_bytes(self) -> int:
        """Bytes of the planned intermediate arena (tensors + kernel scratch) for the current plan:
        the file's input shapes until :meth:`run` is called with other shapes."""
        return self._plan.arena_bytes

    def get_input_details(self) -> list[dict[str, Any]]:
        """Like LiteRT's: name, index (tensor index), shape, shape_signature, dtype, quantization,
        quantization_parameters (scales, zero_points, quantized_dimension); plus ``tensor_name``."""
        return [self._details(k, i, self.input_names[k]) for k, i in enumerate(self._in)]

    def get_output_details(self) -> list[dict[str, Any]]:
        return [self._details(k, i, self.output_names[k]) for k, i in enumerate(self._out)]

    def _details(self, k: int, i: int, name: str) -> dict[str, Any]:
        t = self._sg.tensors[i]
        q = t.quantization
        if q is not None and len(q.scale):
            scales = np.asarray(q.scale, np.float32)
            zps = np.asarray(q.zero_point, np.int32)
            qdim = int(q.quantized_dimension)
        else:
            scales, zps, qdim = np.zeros(0, np.float32), np.zeros(0, np.int32), 0
        quant = (float(scales[0]), int(zps[0])) if scales.size == 1 else (0.0, 0)
        sig = t.shape_signature if t.shape_signature else t.shape
        return {"name": name, "tensor_name": t.name, "index": i, "shape": np.array(t.shape, np.int32),
                "shape_signature": np.array(sig, np.int32), "dtype": _TYPES[t.type].type if t.type in _TYPES else None,
                "quantization": quant,
                "quantization_parameters": {"scales": scales, "zero_points": zps, "quantized_dimension": qdim,
                                            "block_size": 0},
                "sparsity_parameters": {}}

    # ------------------------------------------------------------------------------ running
    def run(self, inputs: Any = None, *, keep_intermediates: bool | None = None) -> Any:
        """Run the model once.

        Args:
            inputs: for a single-input model, an array; otherwise a dict (input name -> array; names are
                the signature's names, or the tensor names, see :attr:`input_names`) or a list/tuple of
                arrays in :attr:`input_names` order (the subgraph's input order). Arrays must have the
                input's dtype (another float/int width of the same kind is converted) and its shape, where
                dims that are -1 in ``shape_signature`` (the batch) may take any size.
            keep_intermediates: override the constructor's setting for this call.

        Returns:
            The single output array for a single-output model, else a dict output name -> array (in
            :attr:`output_names` order). Returned arrays are new; the runtime keeps no reference.
        """
        try:
            return self._run(inputs, keep_intermediates)
        except MemoryError:
            raise self._out_of_memory("running") from None

    __call__ = run

    def _out_of_memory(self, when: str) -> LimitExceededError:
        return LimitExceededError(
            f"{self._source}: out of memory while {when} the model, within its memory limit of "
            f"{format_size(self._limits.max_memory)}: this machine (or its address-space limit) provides less; "
            f"lower --max-memory / Limits(max_memory=...) / {ENV_VAR} to refuse such models before allocating")

    def _run(self, inputs: Any, keep_intermediates: bool | None) -> Any:
        keep = self.keep_intermediates if keep_intermediates is None else keep_intermediates
        arrays = self._check_inputs(inputs)
        plan = self._get_plan(tuple(a.shape for a in arrays), keep)
        self._plan = plan
        if keep:
            bufs, tmps = self._bind_fresh(plan)
        else:
            bufs, tmps = plan.bufs, plan.tmp
        for k, i in enumerate(self._in):
            np.copyto(bufs[i], arrays[k], casting="unsafe")
        outs = {}
        for k, i in enumerate(self._out):
            if i in plan.consts:
                outs[k] = np.array(plan.consts[i])
            elif not keep and i not in self._in:
                bufs[i] = np.empty(plan.shapes[i], _TYPES[self._sg.tensors[i].type])
        steps = plan.steps
        with np.errstate(all="ignore"):
            try:
                for s, st in enumerate(steps):
                    if st.alias:
                        continue
                    st.eval([bufs[j] if j >= 0 else None for j in st.inputs], [bufs[j] for j in st.outputs], tmps[s])
            except RuntimeModelError:
                raise
            except Exception as e:
                info = self._ops[st.op]
                raise RuntimeModelError(f"op #{st.op} {info.name} (inputs {list(info.inputs)}, outputs "
                                        f"{list(info.outputs)}) failed while running: {type(e).__name__}: {e}") from e
        result = []
        for k, i in enumerate(self._out):
            if k in outs:
                result.append(outs[k])
            elif i in self._in or keep or i in self._out[:k]:
                result.append(np.array(bufs[i]))
            else:
                result.append(bufs[i])
        if not keep:
            for i in self._out:
                if i not in self._in and i not in plan.consts:
                    bufs[i] = None  # the caller owns them now
        if keep:
            names = {}
            for i, b in enumerate(bufs):
                if b is not None and i not in self._consts:
                    names[self._sg.tensors[i].name] = b
            for i in plan.consts:
                if i not in self._consts:
                    names[self._sg.tensors[i].name] = plan.consts[i]
            self.intermediates = names
        if len(result) == 1:
            return result[0]
        return dict(zip(self.output_names, result))

    def _check_inputs(self, inputs: Any) -> list[np.ndarray]:
        n = len(self._in)
        if isinstance(inputs, Mapping):
            unknown = [k for k in inputs if k not in self._in_lookup]
            if unknown:
                raise RuntimeModelError(f"unknown input name(s) {unknown}; the model's inputs are {self.input_names}")
            got: list[Any] = [None] * n
            for key, v in inputs.items():
                got[self._in_lookup[key]] = v
            missing = [self.input_names[k] for k in range(n) if got[k] is None]
            if missing:
                raise RuntimeModelError(f"missing input(s) {missing}; the model's inputs are {self.input_names}")
        elif isinstance(inputs, (list, tuple)) and n != 1:
            if len(inputs) != n:
                raise RuntimeModelError(f"the model has {n} inputs {self.input_names}, got a list of {len(inputs)}")
            got = list(inputs)
        elif isinstance(inputs, (list, tuple)) and n == 1 and len(inputs) == 1 and isinstance(inputs[0], np.ndarray):
            got = [inputs[0]]
        elif inputs is None:
            if n:
                raise RuntimeModelError(f"the model has {n} inputs {self.input_names}; none were given")
            got = []
        else:
            if n != 1:
                raise RuntimeModelError(f"the model has {n} inputs {self.input_names}: pass a dict name -> array "
                                        "or a list in that order")
            got = [inputs]
        arrays = []
        for k, v in enumerate(got):
            t = self._sg.tensors[self._in[k]]
            want = _TYPES[t.type]
            a = np.asarray(v) if not isinstance(v, np.ndarray) else v
            if not isinstance(v, np.ndarray):
                a = np.asarray(v, want) if a.dtype.kind in "biuf" and (a.dtype.kind == want.kind or
                                                                       a.dtype.kind in "iu" and want.kind == "f") else a
            if a.dtype != want:
                if not (a.dtype.kind == want.kind or (a.dtype.kind in "iu" and want.kind in "iu"
                                                      and np.can_cast(a.dtype, want))):
                    q = ""
                    if t.quantization is not None and len(t.quantization.scale) and want.kind in "iu":
                        q = (f" (quantized: scale {float(t.quantization.scale[0]):g}, zero point "
                             f"{int(t.quantization.zero_point[0])}; quantize the data first)")
                    raise RuntimeModelError(f"input '{self.input_names[k]}' expects {want}{q}, got {a.dtype}")
                a = a.astype(want)
            sig = t.shape_signature if t.shape_signature else t.shape
            ok = len(a.shape) == len(t.shape) and all(s == -1 or d == f for d, f, s in zip(a.shape, t.shape, sig))
            if not ok:
                want_s = "[" + ", ".join("any" if s == -1 else str(f) for f, s in zip(t.shape, sig)) + "]"
                raise RuntimeModelError(f"input '{self.input_names[k]}' expects shape {want_s}, got {list(a.shape)}")
            arrays.append(a)
        return arrays

    # ------------------------------------------------------------------------------ planning
    def _get_plan(self, shapes: tuple, keep: bool) -> _Plan:
        key = (shapes, keep)
        plan = self._plans.get(key)
        if plan is None:
            try:
                plan = self._prepare(shapes, keep)
            except MemoryError:
                raise self._out_of_memory("preparing") from None
            self._plans[key] = plan
            while len(self._plans) > MAX_CACHED_PLANS:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def _prepare(self, in_shapes: tuple, keep: bool) -> _Plan:
        sg = self._sg
        plan = _Plan()
        plan.keep = keep
        specs = [TensorSpec(i, t.name, tuple(t.shape), _TYPES.get(t.type, np.dtype(np.uint8)), self._consts.get(i),
                            t.quantization) for i, t in enumerate(sg.tensors)]
        for k, i in enumerate(self._in):
            specs[i].shape = tuple(in_shapes[k])
        static = tuple(in_shapes) == self._file_shapes
        inputs_set = set(self._in)
        outputs_set = set(self._out)
        limits, source = self._limits, self._source
        folded = 0  # bytes of the constants folded at prepare time
        steps: list[_Step] = []
        scratch: dict[int, list[tuple[tuple[int, ...], np.dtype]]] = {}
        alias_of: dict[int, int] = {}  # tensor -> root tensor whose memory it views
        for k, op in enumerate(sg.operators):
            info = self._ops[k]
            ctx = OpContext(k, info.name, info.version, dict(op.options),
                            [specs[j] if j >= 0 else None for j in op.inputs], [specs[j] for j in op.outputs],
                            memo=self._memo, limits=limits, source=source)
            try:
                ev = self._prepare_fns[k](ctx)
            except RuntimeModelError:
                raise
            except Exception as e:
                raise RuntimeModelError(f"{ctx.describe()}: prepare failed: {type(e).__name__}: {e}") from e
            for j in op.outputs:
                t = sg.tensors[j]
                if static and (t.shape or t.has_rank) and not _same_shape(t.shape, t.shape_signature, specs[j].shape):
                    msg = (f"op #{k} {info.name}: output '{t.name}' is declared {list(t.shape)} in the file but "
                           f"computes to {list(specs[j].shape)}; using the computed shape")
                    if msg not in self.shape_mismatches:
                        self.shape_mismatches.append(msg)
                        log.warning(msg)
            known = all(j < 0 or specs[j].data is not None for j in op.inputs) and \
                sum(specs[j].size * specs[j].dtype.itemsize for j in op.outputs) <= FOLD_MAX_BYTES
            if all(specs[j].data is not None for j in op.outputs):
                continue  # the kernel computed its outputs at prepare time (SHAPE)
            if known and op.inputs:
                # Fold: run it now, its outputs become constants of this plan (their sizes were checked by
                # set_output, their sum is checked here).
                folded += sum(specs[j].size * specs[j].dtype.itemsize for j in op.outputs)
                limits.check(folded, f"{source}: op #{k} {info.name}: the constants folded at prepare time")
                outs = [np.empty(specs[j].shape, specs[j].dtype) for j in op.outputs]
                tmp = [np.empty(s, d) for s, d in ctx.scratch_specs]
                try:
                    with np.errstate(all="ignore"):
                        ev([specs[j].data if j >= 0 else None for j in op.inputs], outs, tmp)
                except Exception as e:
                    raise RuntimeModelError(f"{ctx.describe()}: failed while folding constants: "
                                            f"{type(e).__name__}: {e}") from e
                for j, o in zip(op.outputs, outs):
                    o.flags.writeable = False
                    specs[j].data = o
                continue
            st = _Step(k, ev, tuple(op.inputs), tuple(op.outputs), len(ctx.scratch_specs))
            if ctx.alias is not None and not keep:
                src = op.inputs[ctx.alias]
                out = op.outputs[0]
                root = alias_of.get(src, src)
                if (out not in outputs_set and root not in outputs_set and specs[src].data is None
                        and specs[src].dtype == specs[out].dtype and specs[src].size == specs[out].size):
                    alias_of[out] = root
                    st.alias = True
            scratch[len(steps)] = list(ctx.scratch_specs)
            steps.append(st)

        plan.shapes = {i: s.shape for i, s in enumerate(specs)}
        plan.consts = {i: s.data for i, s in enumerate(specs) if s.data is not None}
        plan.steps = steps
        plan.scratch_specs = scratch
        plan.aliases = list(alias_of.items())

        # Lifetimes of arena tensors (not graph inputs/outputs, not constants), aliases merged into roots.
        n = len(steps)
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for s, st in enumerate(steps):
            for j in st.outputs:
                if j >= 0:
                    r = alias_of.get(j, j)
                    first.setdefault(r, s)
                    last[r] = max(last.get(r, s), s)
            for j in st.inputs:
                if j >= 0:
                    r = alias_of.get(j, j)
                    last[r] = max(last.get(r, s), s)
        buffers = []
        for t, f in first.items():
            if t in inputs_set or t in outputs_set or t in plan.consts:
                continue
            nbytes = int(np.prod(plan.shapes[t], dtype=np.int64)) * specs[t].dtype.itemsize
            buffers.append(Buffer(t, nbytes, 0 if keep else f, n if keep else last[t]))
        for s, lst in scratch.items():
            for q, (shape, dt) in enumerate(lst):
                buffers.append(Buffer(("scratch", s, q), int(np.prod(shape, dtype=np.int64)) * dt.itemsize, s, s))
        arena = plan_arena(buffers)
        limits.check(arena.arena_bytes, f"{source}: the planned arena of intermediate tensors")
        io = sum(tensor_nbytes(specs[i].shape, specs[i].dtype, limits, f"{source}: tensor '{specs[i].name}' of shape")
                 for i in inputs_set | outputs_set if i not in self._consts)
        limits.check(arena.arena_bytes + io + folded,
                     f"{source}: the planned arena with the graph inputs, outputs and folded constants")
        plan.arena = arena
        plan.arena_bytes = arena.arena_bytes
        plan.tensor_offsets = {b.key: arena.offsets[b.key] for b in buffers if not isinstance(b.key, tuple)}
        plan.scratch_offsets = {b.key[1:]: arena.offsets[b.key] for b in buffers if isinstance(b.key, tuple)}
        if not keep:
            plan.bufs, plan.tmp = self._bind(plan, _aligned_empty(plan.arena_bytes), alloc_io=True)
        return plan

    def _bind(self, plan: _Plan, mem: np.ndarray, alloc_io: bool) -> tuple[list, list]:
        sg = self._sg
        bufs: list[np.ndarray | None] = [None] * len(sg.tensors)
        for i, c in plan.consts.items():
            bufs[i] = c
        for t, off in plan.tensor_offsets.items():
            dt = _TYPES[sg.tensors[t].type]
            shape = plan.shapes[t]
            nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
            bufs[t] = mem[off:off + nbytes].view(dt).reshape(shape)
        for i in self._in:
            bufs[i] = np.empty(plan.shapes[i], _TYPES[sg.tensors[i].type])
        if plan.keep:
            for i in self._out:
                if i not in plan.consts and i not in self._in:
                    bufs[i] = np.empty(plan.shapes[i], _TYPES[sg.tensors[i].type])
        for out, root in plan.aliases:
            bufs[out] = bufs[root].reshape(plan.shapes[out])
        tmp = []
        for s in range(len(plan.steps)):
            lst = []
            for q, (shape, dt) in enumerate(plan.scratch_specs.get(s, ())):
                off = plan.scratch_offsets[(s, q)]
                nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
                lst.append(mem[off:off + nbytes].view(dt).reshape(shape))
            tmp.append(lst)
        return bufs, tmp

    def _bind_fresh(self, plan: _Plan) -> tuple[list, list]:
        """keep_intermediates: a fresh arena per run, so earlier results are never overwritten."""
        return self._bind(plan, _aligned_empty(plan.arena_bytes), alloc_io=True)



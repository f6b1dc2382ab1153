"""The interpreter: run a ``.tflite`` model with NumPy kernels and one planned memory arena.

Usage::

    from keras2edge.runtime import Interpreter
    it = Interpreter("model.tflite")
    probs = it.run(x)                      # single-input, single-output model: array in, array out
    outs = it.run({"img": x})              # dict by input name -> dict by output name (if several)
    it.run(x, observer=fn)                 # fn(op_index, op, outputs) after every op (calibration, debugging)
    it.get_input_details()                 # like LiteRT's
    it.arena_bytes                         # planned intermediate memory for the current shapes

This module is the public facade (input checking, details, the plan cache); the work is done by:

1. :mod:`.loader` — load: parse the bytes (zero copy), check the subgraph, resolve every operator's
   kernel in ``kernels.KERNELS`` by ``(op name, dtype of its main input)``, all unsupported ops at once.
2. :mod:`.prepare` and :mod:`.planner` — plan, once per set of input shapes (cached): kernels' prepare
   steps, constant folding, views, tensor liveness and the arena, every tensor bound to an array.
3. :mod:`.runner` — run: inputs copied into their buffers, each op's eval writes into its planned views,
   an optional observer sees each op's outputs; graph outputs are fresh arrays owned by the caller.

Dynamic shapes: an input dim whose ``shape_signature`` is -1 (normally the batch) accepts any size;
a new shape gets its own prepared plan (kept in a small cache). Other dims must match the file.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .codes import NUMPY_DTYPES as _TYPES
from .errors import LimitExceededError, RuntimeModelError
from .kernels import Memo
from .limits import ENV_VAR, Limits, format_size, resolve
from .loader import ModelSource, OpInfo, load_graph
from .model import Model
from .prepare import Plan, Shape, prepare_plan
from .runner import KeepIntermediates, Observer, run_plan

__all__ = ["Interpreter", "ModelSource", "Observer", "OpInfo"]

MAX_CACHED_PLANS = 8


class Interpreter:
    """Run a ``.tflite`` model with NumPy.

    Args:
        model: a path to a ``.tflite`` file, its bytes, or a :class:`keras2edge.runtime.model.Model`.
        num_threads: accepted for LiteRT compatibility and ignored (NumPy's BLAS decides; set
            ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` before starting Python to pin it).
        keep_intermediates: keep every tensor of the last run in :attr:`intermediates` (name -> array):
            an observer (see :meth:`run`) copies each op's outputs as they are computed (more memory, for
            debugging; a calibration pass that only needs statistics should pass its own ``observer``
            instead). :meth:`run` can also switch it per call.
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
        self._graph = g = load_graph(model, subgraph, self._limits)
        self._source = g.source
        self._model = g.model
        self._sg = g.sg
        self._consts = g.consts
        self._ops = list(g.ops)
        self._in, self._out = list(g.inputs), list(g.outputs)
        self.num_threads = num_threads
        self.keep_intermediates = keep_intermediates
        self.intermediates: dict[str, np.ndarray] = {}
        self.shape_mismatches: list[str] = []  # file shapes that differ from the computed ones (logged)
        self.input_names = list(g.input_names)
        self.output_names = list(g.output_names)
        self._in_lookup = {n: k for k, n in enumerate(self.input_names)}
        self._in_lookup.update({g.sg.tensors[i].name: k for k, i in enumerate(self._in)
                                if g.sg.tensors[i].name not in self._in_lookup})
        self._plans: OrderedDict[tuple[Shape, ...], Plan] = OrderedDict()
        self._memo: Memo = {}  # kernels' per-op precomputed weights, shared by all plans
        self._file_shapes = tuple(tuple(g.sg.tensors[i].shape) for i in self._in)
        self._plan = self._get_plan(self._file_shapes)

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
    def prepare(self, shapes: Sequence[Sequence[int]]) -> None:
        """Plan for these input shapes (one per input, in input order) now, as :meth:`run` would on its
        first call with them: kernels' prepare steps and the arena (then :attr:`arena_bytes` is theirs).
        Lets a benchmark time loading and preparing apart from the first run. Shapes are checked as
        :meth:`run` checks its inputs (RuntimeModelError)."""
        if len(shapes) != len(self._in):
            raise RuntimeModelError(f"the model has {len(self._in)} inputs {self.input_names}, got {len(shapes)} shapes")
        # Zero-stride views: the shapes and dtypes run() would see, without allocating the data.
        dummies = [np.broadcast_to(np.zeros((), self._graph.dtypes[i]), tuple(int(d) for d in s))
                   for i, s in zip(self._in, shapes)]
        arrays = self._check_inputs(dummies if len(dummies) != 1 else dummies[0])
        self._plan = self._get_plan(tuple(a.shape for a in arrays))

    def run(self, inputs: Any = None, *, keep_intermediates: bool | None = None,
            observer: Observer | None = None) -> Any:
        """Run the model once.

        Args:
            inputs: for a single-input model, an array; otherwise a dict (input name -> array; names are
                the signature's names, or the tensor names, see :attr:`input_names`) or a list/tuple of
                arrays in :attr:`input_names` order (the subgraph's input order). Arrays must have the
                input's dtype (another float/int width of the same kind is converted) and its shape, where
                dims that are -1 in ``shape_signature`` (the batch) may take any size.
            keep_intermediates: override the constructor's setting for this call.
            observer: ``observer(op_index, op, outputs)`` called after every operator run, in execution
                order (:data:`keras2edge.runtime.runner.Observer`): ``op`` is its :class:`OpInfo` and
                ``outputs`` its output arrays, which are NOT copies: views of the arena, valid only
                during the call. An exception it raises stops the run and propagates.

        Returns:
            The single output array for a single-output model, else a dict output name -> array (in
            :attr:`output_names` order). Returned arrays are new; the runtime keeps no reference.
        """
        try:
            return self._run(inputs, keep_intermediates, observer)
        except MemoryError:
            raise self._out_of_memory("running") from None

    __call__ = run

    def _out_of_memory(self, when: str) -> LimitExceededError:
        return LimitExceededError(
            f"{self._source}: out of memory while {when} the model, within its memory limit of "
            f"{format_size(self._limits.max_memory)}: this machine (or its address-space limit) provides less; "
            f"lower --max-memory / Limits(max_memory=...) / {ENV_VAR} to refuse such models before allocating")

    def _run(self, inputs: Any, keep_intermediates: bool | None, observer: Observer | None) -> Any:
        keep = self.keep_intermediates if keep_intermediates is None else keep_intermediates
        arrays = self._check_inputs(inputs)
        plan = self._get_plan(tuple(a.shape for a in arrays))
        self._plan = plan
        kept = KeepIntermediates(then=observer) if keep else None
        result = run_plan(self._graph, plan, arrays, kept if kept is not None else observer)
        if kept is not None:
            self.intermediates = self._named_intermediates(plan, arrays, kept.arrays)
        if len(result) == 1:
            return result[0]
        return dict(zip(self.output_names, result))

    def _named_intermediates(self, plan: Plan, arrays: Sequence[np.ndarray], ran: dict[int, np.ndarray]
                             ) -> dict[str, np.ndarray]:
        """Tensor name -> array for every tensor of the run that is not a constant of the file: the
        graph inputs, every op's outputs and the values folded at prepare time, in tensor order."""
        found: dict[int, np.ndarray] = dict(ran)
        for k, i in enumerate(self._in):
            found.setdefault(i, np.array(arrays[k], dtype=self._graph.dtypes[i]))
        for i, c in plan.consts.items():
            if i not in self._consts:
                found[i] = c
        return {self._sg.tensors[i].name: found[i] for i in sorted(found)}

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
    def _get_plan(self, shapes: tuple[Shape, ...]) -> Plan:
        plan = self._plans.get(shapes)
        if plan is None:
            try:
                plan = prepare_plan(self._graph, shapes, self._memo, self._limits, self.shape_mismatches)
            except MemoryError:
                raise self._out_of_memory("preparing") from None
            self._plans[shapes] = plan
            while len(self._plans) > MAX_CACHED_PLANS:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(shapes)
        return plan

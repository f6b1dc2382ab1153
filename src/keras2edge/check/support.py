"""Which builtins, for which input dtypes, TFLite Micro runs: one table, measured.

:data:`TFLM_KERNELS` maps a builtin to the dtypes of its data input (the first non-constant input,
else the first input) with which the ``tflite-micro`` package (0.dev20261023) allocated and invoked
a one-op model (the int16 entries, int8 TRANSPOSE_CONV and uint8 QUANTIZE: one-operator files of the
TFLite emitter's integer lowering, ``tests/convert/tflite/qdq_models.integer_probes``);
:data:`TFLM_MISSING` lists the builtins it does not register at all. Both come from probing
(``tests/check/test_support.py`` builds the probe models again, runs each in a forked TFLite Micro
and fails when the package disagrees with this table). A builtin or dtype in neither place was
never probed: :func:`op_findings` reports it as *unverified*, not as unsupported. :data:`LITERT_REFUSED`
holds the int16 builtins LiteRT refuses and :data:`LITERT_WRONG` those it computes otherwise (probed with
the same models); :func:`int16_kernel` is the one
answer to "does this builtin have a 16x8 kernel" (read by the 16x8 and mixed quantization schemes).

Cases the table cannot express are rules of their own (:func:`op_findings`):

* QUANTIZE float32 -> uint8: no such kernel (int8 and int16 outputs only);
* QUANTIZE / DEQUANTIZE with per-channel parameters: TFLite Micro uses the first scale and zero point
  for every channel (wrong results, no error; docs/int8-findings.md);
* DEQUANTIZE of float16: refused;
* DENSIFY (sparse weights): no kernel; any other op reading a sparse constant: TFLite Micro ignores
  ``Tensor.sparsity`` and reads the stored values as dense (wrong results; docs/sparsity.md);
* DEPTHWISE_CONV_2D without a bias input: TFLite Micro crashes (a segmentation fault in Prepare);
* int64 data anywhere but where a kernel is known to take it; GATHER with int64 positions;
* and, from docs/int8-findings.md (found while the int8 kernels were built): STRIDED_SLICE with
  ``ellipsis_mask``, ``new_axis_mask`` or ``offset`` (ignored: wrong results) or rank above 4;
  SPACE_TO_BATCH_ND int8 with padding (padded with uninitialised memory); int16 GREATER (all false)
  and the other int16 comparisons (refused); zero-sized tensors (refused as "dynamic").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..runtime import schema

if TYPE_CHECKING:
    from ..runtime.model import Model, Operator, SubGraph

F32, I8, I16, I32, U8, BOOL = "float32", "int8", "int16", "int32", "uint8", "bool"

#: builtin -> input dtypes TFLite Micro runs (measured; see the module docstring).
TFLM_KERNELS: dict[str, frozenset[str]] = {op: frozenset(dtypes) for op, dtypes in {
    "ABS": (F32, I8, I16), "ADD": (F32, I8, I32, I16), "ARG_MAX": (F32,), "ARG_MIN": (F32,),
    "AVERAGE_POOL_2D": (F32, I8, I16), "BATCH_MATMUL": (F32, I8), "BATCH_TO_SPACE_ND": (F32, I8),
    "BROADCAST_TO": (F32, I8, I16), "CAST": (F32, I32, BOOL), "CEIL": (F32,), "CONCATENATION": (F32, I8, I32, I16),
    "CONV_2D": (F32, I8, I16), "COS": (F32,), "DEPTHWISE_CONV_2D": (F32, I8, I16), "DEPTH_TO_SPACE": (F32, I8),
    "DEQUANTIZE": (I8, U8, I16), "DIV": (F32,), "ELU": (F32,), "EQUAL": (F32, I32), "EXP": (F32,),
    "EXPAND_DIMS": (F32, I8, I16), "FLOOR": (F32,), "FLOOR_DIV": (F32,), "FLOOR_MOD": (F32,),
    "FULLY_CONNECTED": (F32, I8, I16), "GATHER": (F32, I8, I32), "GREATER": (F32, I32), "GREATER_EQUAL": (F32, I32),
    "HARD_SWISH": (F32, I8), "LEAKY_RELU": (F32, I8, I16), "LESS": (F32, I32), "LESS_EQUAL": (F32, I32),
    "LOG": (F32,), "LOGICAL_AND": (BOOL,), "LOGICAL_NOT": (BOOL,), "LOGICAL_OR": (BOOL,),
    "LOGISTIC": (F32, I8, I16), "LOG_SOFTMAX": (F32,), "MAXIMUM": (F32, I8, I16), "MAX_POOL_2D": (F32, I8, I16),
    "MEAN": (F32, I8, I16), "MINIMUM": (F32, I8, I16), "MIRROR_PAD": (F32, I8), "MUL": (F32, I8, I32, I16), "NEG": (F32,),
    "NOT_EQUAL": (F32, I32), "PACK": (F32, I8, I16), "PAD": (F32, I8, I16), "PADV2": (F32, I8, I16), "PRELU": (F32, I8),
    "QUANTIZE": (F32, I8, U8, I16), "REDUCE_MAX": (F32, I8), "REDUCE_MIN": (F32, I8), "RELU": (F32, I8, I16),
    "RELU6": (F32, I8, I16), "RESHAPE": (F32, I8, I32, I16), "RESIZE_BILINEAR": (F32, I8),
    "RESIZE_NEAREST_NEIGHBOR": (F32, I8, I16), "ROUND": (F32,), "RSQRT": (F32, I8), "SELECT_V2": (BOOL,),
    "SHAPE": (F32,), "SIN": (F32,), "SLICE": (F32, I8, I16), "SOFTMAX": (F32, I8, I16), "SPACE_TO_BATCH_ND": (F32, I8),
    "SPACE_TO_DEPTH": (F32, I8), "SPLIT": (F32, I8, I16), "SPLIT_V": (F32, I8, I16), "SQRT": (F32,), "SQUARE": (F32,),
    "SQUARED_DIFFERENCE": (F32, I8, I16), "SQUEEZE": (F32, I8, I16), "STRIDED_SLICE": (F32, I8, I32, I16), "SUB": (F32, I8, I32, I16),
    "SUM": (F32, I8, I16), "TANH": (F32, I8, I16), "TRANSPOSE": (F32, I8, I16), "TRANSPOSE_CONV": (F32, I8, I16),
    "UNPACK": (F32, I8, I16),
}.items()}

#: builtin -> input dtypes TFLite Micro refuses although it registers the builtin (measured).
TFLM_REFUSED: dict[str, frozenset[str]] = {
    "ABS": frozenset({I32}), "FLOOR_DIV": frozenset({I32}), "FLOOR_MOD": frozenset({I32}),
    "NEG": frozenset({I8, I16}), "DEQUANTIZE": frozenset({"float16"}),
    "EXP": frozenset({I8, I16}), "LOG": frozenset({I8, I16}),
    "REDUCE_MAX": frozenset({I16}), "REDUCE_MIN": frozenset({I16}), "RESIZE_BILINEAR": frozenset({I16}),
    # int16 (the 16x8 twins of the probe cases, tests/check/support_cases.py)
    "HARD_SWISH": frozenset({I16}), "PRELU": frozenset({I16}),
    "MIRROR_PAD": frozenset({I16}), "GATHER": frozenset({I16}), "DEPTH_TO_SPACE": frozenset({I16}),
    "SPACE_TO_DEPTH": frozenset({I16}), "SPACE_TO_BATCH_ND": frozenset({I16}), "BATCH_TO_SPACE_ND": frozenset({I16}),
}

#: builtin -> input dtypes LiteRT (ai-edge-litert 2.3.0, reference kernels) refuses where TFLite Micro would
#: run or was probed (measured with the same one-op models, tests/check/test_support.py); a 16x8 model must
#: run in both, so the 16x8 scheme reads :func:`int16_kernel`.
LITERT_REFUSED: dict[str, frozenset[str]] = {
    "SQUARED_DIFFERENCE": frozenset({I16}), "HARD_SWISH": frozenset({I16}), "DEPTH_TO_SPACE": frozenset({I16}),
    "SPACE_TO_DEPTH": frozenset({I16}), "SIGN": frozenset({I16}), "RELU_N1_TO_1": frozenset({I16}),
    "RELU_0_TO_1": frozenset({I16}),
}

#: Builtins the package does not register (any dtype).
TFLM_MISSING = frozenset({"GELU", "POW", "REDUCE_ANY", "REDUCE_PROD", "RELU_0_TO_1", "RELU_N1_TO_1", "SELECT",
                          "SIGN", "TILE"})



#: builtin -> input dtypes LiteRT's reference kernels run with other results than TFLite Micro (whose
#: integers keras2edge.runtime reproduces): int16 SUM differs by thousands of LSB on the probe model.
LITERT_WRONG: dict[str, frozenset[str]] = {"SUM": frozenset({I16})}


def int16_kernel(builtin: str) -> bool:
    """Whether ``builtin`` runs on int16 activations (16x8) in both TFLite Micro and LiteRT with the same
    results, as probed: in :data:`TFLM_KERNELS` with int16 and in neither :data:`LITERT_REFUSED` nor
    :data:`LITERT_WRONG` for int16 (the 16x8 scheme keeps the ops whose builtins fail this float)."""
    return (I16 in TFLM_KERNELS.get(builtin, frozenset()) and I16 not in LITERT_REFUSED.get(builtin, frozenset())
            and I16 not in LITERT_WRONG.get(builtin, frozenset()))


SUPPORTED, UNSUPPORTED, WRONG, UNVERIFIED = "supported", "unsupported", "wrong-results", "unverified"


@dataclass(frozen=True)
class OpFinding:
    """One operator TFLite Micro cannot run (or runs wrongly, or was never probed with)."""

    index: int  # operator index in subgraph 0
    op: str  # builtin name
    dtype: str  # the input dtype the table was looked up with
    status: str  # UNSUPPORTED, WRONG or UNVERIFIED
    reason: str
    keras_layer: str | None = None  # the Keras layer it came from, when the file says (keras2edge files)


def op_name(model: Model, opcode_index: int) -> str:
    """The builtin name of an operator code (``CUSTOM:<name>`` for a custom operator)."""
    code = model.operator_codes[opcode_index]
    return schema.op_name(code.builtin_code) if code.custom_code is None else f"CUSTOM:{code.custom_code}"


#: Builtins whose data input is not their first non-constant one.
DATA_INPUT = {"TRANSPOSE_CONV": 2}


def data_dtype(model: Model, sg: SubGraph, op: Operator) -> str:
    """The dtype name of the operator's data input: its first non-constant input, else its first input
    (:data:`DATA_INPUT` where a builtin says otherwise)."""
    k = DATA_INPUT.get(op_name(model, op.opcode_index))
    if k is not None and len(op.inputs) > k and op.inputs[k] >= 0:
        return sg.tensors[op.inputs[k]].dtype.name
    ins = [i for i in op.inputs if i >= 0]
    for i in ins:
        if model.tensor_data(0, i) is None:
            return sg.tensors[i].dtype.name
    return sg.tensors[ins[0]].dtype.name if ins else "none"


def _per_channel(sg: SubGraph, i: int) -> bool:
    q = sg.tensors[i].quantization
    return q is not None and len(q.scale) > 1


def check_op(name: str, model: Model, sg: SubGraph, op: Operator) -> tuple[str, str]:
    """(status, reason) of one operator."""
    if name.startswith("CUSTOM:"):
        return UNSUPPORTED, "custom operator (TFLite Micro needs it registered by the firmware)"
    if name in TFLM_MISSING:
        return UNSUPPORTED, "TFLite Micro has no kernel for this builtin"
    sparse = _sparse_input(sg, op)
    if name == "DENSIFY":
        return UNSUPPORTED, ("TFLite Micro has no DENSIFY kernel (sparse weights, written by --sparse): save the "
                             "model without --sparse for microcontrollers")
    if sparse is not None:
        return WRONG, (f"input {sparse!r} is stored sparse (Tensor.sparsity): TFLite Micro reads the stored values "
                       "as if dense (wrong results, no error)")
    dtype = data_dtype(model, sg, op)
    out = sg.tensors[op.outputs[0]] if op.outputs else None
    if name == "QUANTIZE" and dtype == F32 and out is not None and out.dtype == np.uint8:
        return UNSUPPORTED, "float32 -> uint8 QUANTIZE has no kernel (int8 and int16 outputs only)"
    if name in ("QUANTIZE", "DEQUANTIZE") and any(_per_channel(sg, i) for i in (*op.inputs, *op.outputs) if i >= 0):
        return WRONG, "per-channel parameters: TFLite Micro applies the first scale and zero point to every channel"
    if name == "DEPTHWISE_CONV_2D" and (len(op.inputs) < 3 or op.inputs[2] < 0):
        return UNSUPPORTED, "no bias input: TFLite Micro crashes in Prepare (give a zero bias)"
    finding = _documented(name, dtype, model, sg, op)
    if finding is not None:
        return finding
    if dtype in TFLM_REFUSED.get(name, frozenset()):
        return UNSUPPORTED, f"TFLite Micro has no {dtype} kernel for this builtin"
    if dtype == "int64" or (out is not None and out.dtype == np.int64 and name not in ("ARG_MAX", "ARG_MIN", "CAST")):
        return UNSUPPORTED, "int64 tensors: TFLite Micro kernels take int64 almost nowhere"
    if name not in TFLM_KERNELS:
        return UNVERIFIED, "builtin never probed against TFLite Micro"
    if dtype not in TFLM_KERNELS[name]:
        return UNVERIFIED, f"{dtype} input never probed against TFLite Micro (probed: {', '.join(sorted(TFLM_KERNELS[name]))})"
    return SUPPORTED, ""


def _sparse_input(sg: SubGraph, op: Operator) -> str | None:
    """The name of a sparse input of ``op`` (docs/sparsity.md: measured with TFLite Micro), or None."""
    for i in op.inputs:
        if i >= 0 and sg.tensors[i].sparsity is not None:
            return sg.tensors[i].name
    return None


#: Builtins LiteRT runs hybrid (float activations, int8 weights); TFLite Micro refuses them.
_HYBRID = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"}
_COMPARISONS = {"EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"}


def _documented(name: str, dtype: str, model: Model, sg: SubGraph, op: Operator) -> tuple[str, str] | None:
    """The TFLite Micro behaviours docs/int8-findings.md records, as (status, reason), or None."""
    tensors = [sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
    if any(0 in t.shape for t in tensors):
        return UNSUPPORTED, "a zero-sized tensor: TFLite Micro refuses it as a dynamic tensor"
    if name == "STRIDED_SLICE":
        opts = op.options or {}
        used = [m for m in ("ellipsis_mask", "new_axis_mask", "offset") if opts.get(m)]
        if used:
            return WRONG, f"TFLite Micro ignores {', '.join(used)}"
        if len(sg.tensors[op.inputs[0]].shape) > 4:
            return UNSUPPORTED, "TFLite Micro slices rank 4 at most"
    if name == "SPACE_TO_BATCH_ND" and dtype == "int8" and len(op.inputs) > 2:
        pads = model.tensor_data(0, op.inputs[2])
        if pads is None or np.any(np.asarray(pads) != 0):
            return WRONG, "int8 padding is filled with uninitialised memory, not the zero point"
    if name in _COMPARISONS and dtype == "int16":
        return ((WRONG, "int16 GREATER returns all false") if name == "GREATER"
                else (UNSUPPORTED, "no int16 kernel"))
    if (name in _HYBRID and dtype == F32 and len(op.inputs) > 1 and op.inputs[1] >= 0
            and sg.tensors[op.inputs[1]].dtype in (np.int8, np.uint8)):
        return UNSUPPORTED, ("float input with int8 weights (dynamic-range / hybrid): TFLite Micro has no hybrid "
                             "kernels; quantize to full int8 for microcontrollers")
    if name == "GATHER" and len(op.inputs) > 1 and op.inputs[1] >= 0 and sg.tensors[op.inputs[1]].dtype == np.int64:
        return UNSUPPORTED, "int64 positions: TFLite Micro's GATHER takes int32 only"
    return None

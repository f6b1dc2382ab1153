"""Real values in, real values out, for quantized models: what ``keras2edge run`` does to the
inputs and outputs of an int8/uint8/int16 ``.tflite`` model (and what ``run_tflite(raw=...)`` does).

A model input or output is *quantized* when its tensor is int8, uint8 or int16 and carries a scale
(and zero point) in the file. By default (``raw=False``):

- a quantized input takes **real values**: a float array is cast to float32 and quantized with the
  input's own parameters, exactly as a QUANTIZE op of the model would (TFLite's AffineQuantize:
  round half away from zero, add the zero point, clamp; the one implementation is
  ``runtime.kernels.quant.affine_quantize``); an integer or bool array of *another* dtype holds real
  values too (an image's uint8 pixels fed to an int8 model) and is quantized the same way; an array
  of the input's own storage dtype (int8 for an int8 input) is **refused** as ambiguous: it could be
  real values or already-quantized data, and guessing wrong gives garbage without a word. Pass
  ``raw=True`` (``--raw``) to feed it as quantized data, or convert it to float for real values;
- a quantized output is dequantized to float32 as a DEQUANTIZE op would
  (``runtime.kernels.quant.affine_dequantize``: ``float32(double(scale) * (q - zero_point))``, per
  channel in float32).

With ``raw=True`` nothing is converted: a quantized input takes an array of exactly its storage
dtype (a float array, or another integer dtype, is refused with the input's parameters in the
message) and quantized outputs come back as the integers the model computed.

Inputs and outputs that are not quantized (float32, int32 indices, ...) pass through unchanged in
both modes (the interpreter checks them). Every decision is recorded as an :class:`IOConversion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import RuntimeModelError

# runtime.kernels (every kernel module) is imported by the functions that convert, not by
# `import keras2edge` (api.py imports this module for RunOutputs).

#: Storage dtypes of quantized model inputs/outputs.
QUANTIZED_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))


@dataclass(frozen=True)
class IOConversion:
    """What was done to one model input or output.

    Attributes:
        name: the input/output name (signature name, else tensor name).
        role: ``"input"`` or ``"output"``.
        action: ``"quantize"`` (real values -> the model's integers), ``"dequantize"`` (the model's
            integers -> float32), ``"raw"`` (a quantized tensor passed as is, ``raw=True``) or
            ``"none"`` (not quantized: passed as is).
        model_dtype: the tensor's dtype in the model.
        user_dtype: the dtype of the array the caller gave (inputs) or got back (outputs).
        scale, zero_point: the tensor's quantization (one value per tensor, a list per channel), or
            None when it is not quantized.
        axis: the quantized dimension of a per-channel tensor, else None.
    """

    name: str
    role: str
    action: str
    model_dtype: str
    user_dtype: str
    scale: float | list[float] | None = None
    zero_point: int | list[int] | None = None
    axis: int | None = None

    def describe(self) -> str:
        """One line, e.g. ``input 'x': float32 -> int8, quantized (scale 0.0235, zero point -3)``."""
        q = ""
        if self.scale is not None:
            per = f", axis {self.axis}" if self.axis is not None else ""
            q = f" (scale {_fmt(self.scale)}, zero point {_fmt(self.zero_point)}{per})"
        if self.action == "quantize":
            return f"{self.role} '{self.name}': {self.user_dtype} -> {self.model_dtype}, quantized{q}"
        if self.action == "dequantize":
            return f"{self.role} '{self.name}': {self.model_dtype} -> {self.user_dtype}, dequantized{q}"
        if self.action == "raw":
            return f"{self.role} '{self.name}': {self.model_dtype} as is (raw){q}"
        return f"{self.role} '{self.name}': {self.model_dtype} as is"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _fmt(v: object) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v[:4]) + (", ..." if len(v) > 4 else "") + "]"
    return f"{v:.6g}" if isinstance(v, float) else str(v)


class RunOutputs(dict):  # type: ignore[type-arg]
    """The outputs of :func:`keras2edge.run_tflite`: a dict output name -> array, in the model's
    output order, that also records what was done to each input and output (``conversions``)."""

    conversions: list[IOConversion]

    def __init__(self, outputs: Mapping[str, np.ndarray], conversions: Sequence[IOConversion]) -> None:
        super().__init__(outputs)
        self.conversions = list(conversions)


@dataclass(frozen=True)
class _Quant:
    """A tensor's quantization, shaped to broadcast against its data (per channel along ``axis``)."""

    scale: np.ndarray  # float32, () or broadcastable
    zero_point: np.ndarray  # int64, same shape
    axis: int | None

    def record(self) -> tuple[float | list[float], int | list[int], int | None]:
        if self.axis is None:
            return float(self.scale), int(self.zero_point), None
        return ([float(s) for s in self.scale.reshape(-1)], [int(z) for z in self.zero_point.reshape(-1)],
                self.axis)


def tensor_quant(details: Mapping[str, Any], role: str) -> _Quant | None:
    """The quantization of an input/output from ``Interpreter.get_*_details()``, or None when the
    tensor is not a quantized int8/uint8/int16 tensor. Raises RuntimeModelError for parameters no
    conversion can use (a scale that is zero, negative or not finite; mismatched lengths)."""
    if details["dtype"] is None or np.dtype(details["dtype"]) not in QUANTIZED_DTYPES:
        return None
    qp = details["quantization_parameters"]
    scales = np.asarray(qp["scales"], np.float32).reshape(-1)
    if scales.size == 0:
        return None
    zps = np.asarray(qp["zero_points"], np.int64).reshape(-1)
    if zps.size == 0:
        zps = np.zeros(scales.shape, np.int64)
    where = f"{role} '{details['name']}'"
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise RuntimeModelError(f"{where}: quantization scale {scales.tolist()} is not a positive finite number; "
                                "its values cannot be converted (run it with raw=True / --raw)")
    if scales.size == 1 and zps.size == 1:
        return _Quant(scales.reshape(()), zps.reshape(()), None)
    axis = int(qp.get("quantized_dimension", 0))
    rank = len(details["shape"])
    if zps.size != scales.size or not 0 <= axis < rank:
        raise RuntimeModelError(f"{where}: {scales.size} scales and {zps.size} zero points for quantized dimension "
                                f"{axis} of a rank-{rank} tensor")
    shape = [1] * rank
    shape[axis] = scales.size
    return _Quant(scales.reshape(shape), zps.reshape(shape), axis)


def _dtype(d: Mapping[str, Any]) -> np.dtype | str:
    return np.dtype(d["dtype"]) if d["dtype"] is not None else "unknown"


def convert_inputs(details: Sequence[Mapping[str, Any]], inputs: Any, *, raw: bool) -> tuple[Any, list[IOConversion]]:
    """``inputs`` (an array, a dict by input name, or a list in input order, as ``Interpreter.run``
    takes them) with each quantized input converted (or checked, when ``raw``); the same structure
    comes back, plus one :class:`IOConversion` per input. Keys the model does not know are left for
    the interpreter to report."""
    by_key: dict[str, int] = {}
    for k, d in enumerate(details):
        by_key.setdefault(str(d.get("tensor_name", d["name"])), k)
    by_key.update({str(d["name"]): k for k, d in enumerate(details)})
    records: dict[int, IOConversion] = {}

    def one(k: int, v: Any) -> Any:
        arr, rec = _convert_input(details[k], v, raw)
        records[k] = rec
        return arr

    if isinstance(inputs, Mapping):
        out: Any = {key: (one(by_key[key], v) if key in by_key else v) for key, v in inputs.items()}
    elif isinstance(inputs, (list, tuple)) and len(inputs) == len(details) and len(details) != 1:
        out = [one(k, v) for k, v in enumerate(inputs)]
    elif isinstance(inputs, (list, tuple)) and len(details) == 1 and len(inputs) == 1 and isinstance(inputs[0],
                                                                                                    np.ndarray):
        out = [one(0, inputs[0])]
    elif len(details) == 1 and inputs is not None and not isinstance(inputs, Mapping):
        out = one(0, inputs)
    else:
        out = inputs  # a mismatch the interpreter explains
    return out, [records[k] for k in sorted(records)]


def _convert_input(d: Mapping[str, Any], v: Any, raw: bool) -> tuple[Any, IOConversion]:
    name, model_dt = str(d["name"]), _dtype(d)
    q = tensor_quant(d, "input")
    a = v if isinstance(v, np.ndarray) else np.asarray(v)
    if q is None:
        return v, IOConversion(name, "input", "none", str(model_dt), str(a.dtype))
    scale, zp, axis = q.record()
    params = f"{model_dt}, quantized with scale {_fmt(scale)} and zero point {_fmt(zp)}"
    if raw:
        if a.dtype != model_dt:
            hint = ("drop --raw / raw=True to have real values quantized" if a.dtype.kind == "f"
                    else f"give an {model_dt} array")
            raise RuntimeModelError(f"input '{name}' is {params}; raw mode takes the {model_dt} tensor as is, "
                                    f"got {a.dtype}: {hint}")
        return v, IOConversion(name, "input", "raw", str(model_dt), str(a.dtype), scale, zp, axis)
    if a.dtype == model_dt:
        raise RuntimeModelError(f"input '{name}' is {params}, and the {a.dtype} array given could be either "
                                f"quantized data or real values: pass --raw / raw=True to feed it as quantized "
                                f"data, or a float array of real values to have it quantized")
    if a.dtype.kind not in "fiub":
        raise RuntimeModelError(f"input '{name}' is {params}: it takes real values (a float array), got {a.dtype}")
    from .runtime.kernels.quant import affine_quantize

    x = a.astype(np.float32, copy=False)
    return (affine_quantize(x, q.scale, q.zero_point, model_dt),
            IOConversion(name, "input", "quantize", str(model_dt), str(a.dtype), scale, zp, axis))


def convert_outputs(details: Sequence[Mapping[str, Any]], outputs: Sequence[np.ndarray], *, raw: bool
                    ) -> tuple[dict[str, np.ndarray], list[IOConversion]]:
    """The model's outputs (in output order) by name, each quantized one dequantized to float32
    unless ``raw``; plus one :class:`IOConversion` per output."""
    result: dict[str, np.ndarray] = {}
    records: list[IOConversion] = []
    for d, y in zip(details, outputs):
        name, model_dt = str(d["name"]), _dtype(d)
        q = tensor_quant(d, "output")
        if q is None:
            result[name] = y
            records.append(IOConversion(name, "output", "none", str(model_dt), str(y.dtype)))
            continue
        scale, zp, axis = q.record()
        if raw:
            result[name] = y
            records.append(IOConversion(name, "output", "raw", str(model_dt), str(y.dtype), scale, zp, axis))
            continue
        from .runtime.kernels.quant import affine_dequantize

        result[name] = affine_dequantize(y, q.scale, q.zero_point, per_channel=axis is not None)
        records.append(IOConversion(name, "output", "dequantize", str(model_dt), "float32", scale, zp, axis))
    return result, records

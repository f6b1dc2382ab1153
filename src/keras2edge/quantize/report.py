"""The quantization report: what the debugger measured, the rule that calls a layer bad, and its
renderings (``to_dict`` for ``--report out.json``, ``to_markdown`` for the CLI and ``out.md``).

Per Keras layer (:class:`LayerReport`): its precision in the quantized model (int8, int16, float),
the error at its outputs accumulated (the whole quantized model run) and layer-local (the layer alone
on the float model's inputs: ``quantize/local.py``), its weight bytes before and after, whether it is
bad and what to do about it.

The rule (:func:`suggest`), on the layer-local error, since that is the error the layer itself adds:

* **bad** when its SQNR is below :data:`BAD_SQNR_DB` (20 dB: the error's power is over 1% of the
  signal's; int8 rounding alone gives about 40 dB on a well-ranged activation), or when its median
  channel's SQNR is below :data:`BAD_CHANNEL_SQNR_DB` (10 dB: half of its channels drowned by a range
  that another channel sets, which the tensor's SQNR hides. Measured: every channel of the healthy
  digits models is at 18 dB or more; random-weight MobileNetV3Small has near-silent channels at 0 dB,
  at most 8% of a layer's but one (31% of 13), so the worst channel alone would flag healthy layers);
* suggestion for a bad layer: ``per-channel`` when its weights were quantized per tensor
  (``--per-tensor``) — the cheapest fix; else ``int16`` (16x8: int16 activations, same int8 weights,
  256x finer steps over the same range) when the layer runs int8 and its SQNR is at least
  :data:`KEEP_FLOAT_BELOW_DB` (a drowned channel in a good tensor included); else ``keep float``
  (an int8 layer below 10 dB, or an int16 layer that is still bad).

Layers are ranked by damage: the lower of the layer-local SQNR and its median channel's, lowest first,
ties by the layer-local SQNR (the order the accuracy budget raises them in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errorstats import ErrorMetrics

#: A layer whose layer-local SQNR is below this (dB) is bad.
BAD_SQNR_DB = 20.0
#: A layer whose median channel's layer-local SQNR is below this (dB) is bad.
BAD_CHANNEL_SQNR_DB = 10.0
#: A bad int8 layer below this (dB) is suggested to stay float rather than int16.
KEEP_FLOAT_BELOW_DB = 10.0

RULE = (f"bad = layer-local SQNR < {BAD_SQNR_DB:g} dB or median channel's < {BAD_CHANNEL_SQNR_DB:g} dB; "
        f"suggestion: per-channel if its weights are per-tensor, else int16 if it runs int8 with SQNR >= "
        f"{KEEP_FLOAT_BELOW_DB:g} dB, else keep float")


@dataclass
class LayerReport:
    """One Keras layer: what it became and the error its quantization adds (see the module)."""

    name: str
    cls: str
    precision: str                 # "int8", "int16" or "float" (its outputs in the quantized file);
                                   # "int8 weights" / "float16 weights": float activations, weights stored so
    outputs: list[str]             # the float value names compared
    accumulated: ErrorMetrics
    local: ErrorMetrics            # a graph input's local error is its accumulated one
    float_bytes: int               # weight/constant bytes of its nodes in the float graph
    quant_bytes: int               # ... in the quantized graph
    has_weights: bool = False
    per_tensor: bool = False       # its weights were quantized per tensor
    weights_lsb: float | None = None  # max |dequantized - float weight| in LSB (weightdiff: 0.5 = rounding)
    bias_lsb: float | None = None     # the same for its bias
    changed: str = ""              # weightdiff's verdict: "weights rounded, bias changed", ...
    bad: bool = False
    suggestion: str | None = None

    def damage(self) -> tuple[float, float]:
        """The ranking key (lower is worse): the lower of the layer-local SQNR and its median channel's,
        then the layer-local SQNR, in dB."""
        return min(self.local.sqnr_db, self.local.median_channel_sqnr_db), self.local.sqnr_db

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "class": self.cls, "precision": self.precision, "outputs": self.outputs,
                "accumulated": self.accumulated.to_dict(), "local": self.local.to_dict(),
                "float_bytes": self.float_bytes, "quant_bytes": self.quant_bytes, "has_weights": self.has_weights,
                "per_tensor": self.per_tensor, "weights_lsb": self.weights_lsb, "bias_lsb": self.bias_lsb,
                "changed": self.changed, "bad": self.bad, "suggestion": self.suggestion}


def suggest(layer: LayerReport) -> tuple[bool, str | None]:
    """(bad, suggestion) for one layer by the module's rule."""
    sqnr = layer.local.sqnr_db
    tensor_bad = sqnr < BAD_SQNR_DB
    if layer.precision not in ("int8", "int16") or not (tensor_bad or layer.local.median_channel_sqnr_db
                                                         < BAD_CHANNEL_SQNR_DB):
        return False, None
    if tensor_bad and layer.has_weights and layer.per_tensor:
        return True, "per-channel"
    if layer.precision == "int8" and sqnr >= KEEP_FLOAT_BELOW_DB:
        return True, "int16"
    return True, "keep float"


@dataclass
class BudgetStep:
    """One move of the accuracy budget: a layer raised to ``precision`` and what that gave."""

    layer: str
    precision: str        # "int16" or "float"
    metric: float         # accuracy (labelled) or agreement after the move
    drop_pt: float        # percentage points below the float model
    size_bytes: int       # the quantized .tflite's size after the move
    cost_bytes: int       # size change this move caused
    kept: bool            # False: the move did not help and was undone

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass
class BudgetResult:
    """What ``--max-drop`` did: the moves tried, and whether the final model meets the budget."""

    max_drop_pt: float
    metric: str                  # "accuracy" or "agreement"
    start_drop_pt: float
    final_drop_pt: float
    met: bool
    keep_float: list[str] = field(default_factory=list)
    int16: list[str] = field(default_factory=list)
    steps: list[BudgetStep] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"max_drop_pt": self.max_drop_pt, "metric": self.metric, "start_drop_pt": self.start_drop_pt,
                "final_drop_pt": self.final_drop_pt, "met": self.met, "keep_float": self.keep_float,
                "int16": self.int16, "steps": [s.to_dict() for s in self.steps]}


@dataclass
class QuantReport:
    """The per-layer quantization report (``keras2edge.quantize(..., report=True)``)."""

    model: str
    scheme: str
    options: dict[str, Any]
    algorithms: dict[str, Any]
    samples: int
    labelled: bool
    float_top1: float | None         # float model accuracy (labelled data), else None
    quant_top1: float | None         # quantized model accuracy (labelled data), else None
    agreement: float                 # top-1 agreement of quantized with float
    float_size: int                  # .tflite bytes
    quant_size: int
    layers: list[LayerReport]
    output_sqnr_db: float = math.nan  # accumulated SQNR at the model's first output
    rule: str = RULE
    budget: BudgetResult | None = None

    @property
    def metric(self) -> str:
        """What the accuracy budget holds: ``accuracy`` with labels, else ``agreement``."""
        return "accuracy" if self.labelled else "agreement"

    @property
    def drop_pt(self) -> float:
        """Percentage points lost: float accuracy - quantized accuracy (labelled), else 100 - agreement."""
        if self.labelled and self.float_top1 is not None and self.quant_top1 is not None:
            return 100.0 * (self.float_top1 - self.quant_top1)
        return 100.0 * (1.0 - self.agreement)

    def ranked(self) -> list[LayerReport]:
        """Layers by damage (layer-local SQNR, lowest first); layers with float activations last."""
        return sorted(self.layers, key=lambda r: (r.precision not in ("int8", "int16"), r.damage()))

    def layer(self, name: str) -> LayerReport:
        """The report of Keras layer ``name`` (KeyError if absent)."""
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--report out.json``)."""
        return {"model": self.model, "scheme": self.scheme, "options": self.options, "algorithms": self.algorithms,
                "samples": self.samples, "labelled": self.labelled, "float_top1": self.float_top1,
                "quant_top1": self.quant_top1, "agreement": self.agreement, "drop_pt": self.drop_pt,
                "output_sqnr_db": self.output_sqnr_db if math.isfinite(self.output_sqnr_db) else None,
                "float_size": self.float_size, "quant_size": self.quant_size, "rule": self.rule,
                "layers": [r.to_dict() for r in self.layers],
                "ranked": [r.name for r in self.ranked()],
                "budget": None if self.budget is None else self.budget.to_dict()}

    def to_markdown(self) -> str:
        """The report as markdown: a summary, the per-layer table (model order) and the budget."""
        lines = [f"## Quantization report: {self.model} ({self.scheme})", ""]
        if self.labelled:
            lines.append(f"- top-1 accuracy on {self.samples} samples: float {_pct(self.float_top1)}, "
                         f"quantized {_pct(self.quant_top1)} (drop {self.drop_pt:.2f} pt); "
                         f"agreement {_pct(self.agreement)}")
        else:
            lines.append(f"- top-1 agreement with float on {self.samples} unlabelled samples: {_pct(self.agreement)}")
        lines.append(f"- size: float {self.float_size} B -> quantized {self.quant_size} B")
        algos = ", ".join(f"{k}: {v}" for k, v in self.algorithms.items()) or "none recorded"
        lines.append(f"- algorithms: {algos}")
        lines.append(f"- rule: {self.rule}")
        lines.append("- constants: float vs dequantized weights/bias; rounded <= 0.5 LSB, rounding chosen <= 1 LSB "
                     "(AdaRound), changed > 1 LSB (equalization, bias correction, clipping)")
        lines += ["", ("| layer | class | precision | SQNR dB (local) | median channel dB (local) | SQNR dB (accum.) | "
                  "cosine (accum.) | "
                  "max abs err (accum.) | RMSE/scale (local) | RMSE/scale (accum.) | bytes float -> quant | "
                  "constants | suggestion |"),
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in self.layers:
            lines.append(f"| {r.name} | {r.cls} | {r.precision} | {_db(r.local.sqnr_db)} | "
                         f"{_db(r.local.median_channel_sqnr_db)} | "
                         f"{_db(r.accumulated.sqnr_db)} | {r.accumulated.cosine:.5f} | {r.accumulated.max_abs:.4g} | "
                         f"{_num(r.local.rmse_over_scale)} | {_num(r.accumulated.rmse_over_scale)} | "
                         f"{r.float_bytes} -> {r.quant_bytes} | {r.changed} | {r.suggestion or ''} |")
        if self.budget is not None:
            b = self.budget
            lines += ["", f"### Accuracy budget: max drop {b.max_drop_pt:g} pt of {b.metric}",
                      (f"- start: drop {b.start_drop_pt:.2f} pt; final: drop {b.final_drop_pt:.2f} pt "
                      f"({'met' if b.met else 'NOT met'})"),
                      f"- int16: {', '.join(b.int16) or '-'}; keep float: {', '.join(b.keep_float) or '-'}"]
            if b.steps:
                lines += ["", "| layer | to | drop pt after | size B | cost B | kept |",
                          "| --- | --- | ---: | ---: | ---: | --- |"]
                lines += [f"| {s.layer} | {s.precision} | {s.drop_pt:.2f} | {s.size_bytes} | {s.cost_bytes:+d} | "
                          f"{'yes' if s.kept else 'no'} |" for s in b.steps]
        return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}%"


def _db(x: float) -> str:
    return "inf" if math.isinf(x) and x > 0 else f"{x:.1f}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


__all__ = ["BAD_CHANNEL_SQNR_DB", "BAD_SQNR_DB", "KEEP_FLOAT_BELOW_DB", "RULE", "BudgetResult", "BudgetStep", "LayerReport",
           "QuantReport", "suggest"]

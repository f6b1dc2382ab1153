"""High-bias absorption (Nagel et al. 2019, "Data-Free Quantization", §4.2) on the float graph, after
cross-layer equalization: a per-channel constant c moves from a layer's bias into the next layer's bias.

Pattern -> rewrite. A weight op A (``OpSpec.weights``, output channels on the weight's last axis, a
bias of its own) whose output goes through a clamp that is the identity above 0 — A's fused activation
or a single activation node after it, recognised by its op's ``evaluate`` (:func:`linear_above_zero`:
Relu; Relu6 and Relu0To1 up to their ``clamp`` high bound) — into the activation input of one weight
op B (a bias of its own, no zero padding):

    b_A[i] -= c[i]        b_B += B_linear(c)   (B's weights applied to the constant input c)

For x >= c (and, under a clamp at h, x <= h): act(x - c) = act(x) - c, so B's output is unchanged
exactly where A's pre-activation stays in that range. The paper takes c = max(0, beta - 3 gamma) from
BatchNorm's beta and gamma; here BatchNorm has been folded into the weights when the graph was loaded
(``ir.passes.FoldBatchNormPass`` in the cleanup every loaded graph goes through) and its statistics are
gone, and they would in any case describe A's output before CLE rescaled it. So the statistics come
from the calibration data instead (``HBA_SAMPLES`` samples, the float graph's ``.tflite`` run in the
runtime, B's input observed: A's post-activation output), which also covers layers that never had a
BatchNorm:

    c[i] = max(0, min(min_i, mean_i - 3 std_i))       and c[i] = 0 where the clamp at h fired (max_i >= h)

Because the post-activation minimum of a ReLU channel is 0 as soon as the ReLU clipped once, c[i] > 0
only for channels the activation never clipped on those samples: there post-activation = pre-activation
>= c, so the rewrite is exact on every sample the statistics saw (mean - 3 std keeps a margin for the
rest of the data, as the paper's bound does).

Declined (recorded, left as they are): a B with zero padding (``same`` padding with a kernel larger than
the stride: the padded taps read 0, not -c), no bias or a shared bias (an unrolled recurrent layer),
an intermediate value with several readers or that is a graph output, an activation that is not the
identity above 0 (LeakyRelu, Tanh, ...) or no activation at all.

The graph is changed in place (constants replaced, never mutated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..ir.activation import FUSED_ACTIVATIONS, NONE, fused_activation
from ..ir.graph import Graph
from ..ir.node import Node
from ..ir.ops import op_spec
from ..ir.ops.core import pair, same_pads
from ..ir.value import Value
from .bias_correction import expected_output, kernel_size
from .probe import Feeds, observe_inputs, real

#: Calibration samples whose statistics decide c (each costs one float run of the model).
HBA_SAMPLES = 32
#: c = max(0, mean - SIGMAS * std), the paper's 3.
SIGMAS = 3.0


@dataclass
class Absorption:
    """What high-bias absorption did: per Keras layer A, the largest c moved and how many channels moved;
    declined layers and why; samples whose statistics were used."""

    moved: dict[str, tuple[float, int]] = field(default_factory=dict)
    declined: dict[str, str] = field(default_factory=dict)
    samples: int = 0

    def largest(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` layers with the largest c moved."""
        return sorted(((k, v[0]) for k, v in self.moved.items()), key=lambda kv: -kv[1])[:n]

    def line(self) -> str:
        """One report line: ``high-bias absorption: 3 layers (largest c: dw 2.1, ...)``."""
        top = ", ".join(f"{k} {v:.2g}" for k, v in self.largest())
        return f"high-bias absorption: {len(self.moved)} layers" + (f" (largest c: {top})" if top else "")


@dataclass
class Candidate:
    """A -> activation -> B, with the activation's upper clamp (inf for Relu)."""

    a: Node
    b: Node
    high: float


@lru_cache(maxsize=None)
def linear_above_zero(op: str) -> float | None:
    """If ``op`` (an activation, by its spec's ``evaluate``) is max(x, 0) up to some bound h (and
    constant h above it), h (inf when unbounded); else None."""
    spec = op_spec(op)
    xs = np.array([-1e6, -3.0, -0.25, 0.0, 0.25, 0.5, 0.75, 1e6], np.float32)
    try:
        y = np.asarray(spec.evaluate([xs], dict(spec.attrs))[0], np.float64)
    except Exception:  # noqa: BLE001 - an op that cannot run on the probe does not qualify
        return None
    if y.shape != xs.shape or np.any(y[:4] != 0) or not np.allclose(y[4:7], xs[4:7]):
        return None
    if y[-1] == xs[-1]:
        return float("inf")
    clamp = spec.clamp
    return float(clamp[1]) if clamp is not None and float(y[-1]) == float(clamp[1]) else None


def _where(node: Node) -> str:
    return node.origin.layer if node.origin else node.name


def _own_bias(node: Node) -> Value | None:
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if b is None or not b.is_const or b.const is None or len(b.uses) != 1:
        return None
    return b


def _zero_padded(node: Node) -> bool:
    """Whether a window op pads its input with zeros (``same`` padding that adds rows or columns)."""
    if not op_spec(node.op).spatial or node.attrs.get("padding") != "same":
        return False
    x = node.inputs[0]
    kh, kw = kernel_size(node)
    (sh, sw), (dh, dw) = pair(node.attrs["strides"]), pair(node.attrs["dilations"])
    return any(same_pads(int(n), k, s, d) != (0, 0)  # type: ignore[arg-type]
               for n, k, s, d in ((x.shape[1], kh, sh, dh), (x.shape[2], kw, sw, dw)))  # type: ignore[index]


def _weight_ok(node: Node) -> bool:
    axes = op_spec(node.op).weights
    if axes is None or len(node.inputs) <= axes.input:
        return False
    w = node.inputs[axes.input]
    return w is not None and w.is_const and w.const is not None and axes.out_axis == len(w.shape) - 1


def find_candidates(graph: Graph, result: Absorption | None = None) -> list[Candidate]:
    """Every A -> activation -> B of ``graph`` high-bias absorption can rewrite (see the module)."""
    found = []
    for a in graph.nodes:
        if not _weight_ok(a) or _own_bias(a) is None:
            continue
        why = None
        v = a.outputs[0]
        act = fused_activation(a)
        op = FUSED_ACTIVATIONS.get(act) if act != NONE else None
        if op is None and len(v.uses) == 1 and not graph.is_output(v):
            user = v.uses[0][0]
            if len(user.inputs) == 1 and linear_above_zero(user.op) is not None:
                op, v = user.op, user.outputs[0]
        high = linear_above_zero(op) if op is not None else None
        b = v.uses[0][0] if len(v.uses) == 1 and not graph.is_output(v) else None
        if high is None:
            why = "no activation that is max(x, 0) after it" if op is None else f"activation {op} is not max(x, 0)"
        elif b is None:
            why = f"its output {v.name!r} has {len(v.uses)} readers" if not graph.is_output(v) else "a graph output"
        elif not _weight_ok(b) or b.inputs[0] is not v:
            why = f"followed by {b.op} ({_where(b)}), not a weight layer reading it"
        elif _own_bias(b) is None:
            why = f"{_where(b)} has no bias of its own"
        elif _zero_padded(b):
            why = f"{_where(b)} pads with zeros ('same' padding), where -c is not read"
        if why is not None:
            if result is not None and op is not None:
                result.declined[_where(a)] = why
            continue
        found.append(Candidate(a, b, high))  # type: ignore[arg-type]
    return found


def _stats(graph: Graph, feeds: Feeds, cands: list[Candidate]) -> dict[str, np.ndarray]:
    """Per B: (4, C) rows min, max, mean, std of its input channels over samples and positions."""
    acc: dict[str, list[np.ndarray]] = {}

    def seen(node: Node, x: np.ndarray, affine: tuple[float, float] | None) -> None:
        r = np.asarray(real(x, affine), np.float64).reshape(-1, x.shape[-1])
        s = np.stack([r.min(axis=0), r.max(axis=0), r.sum(axis=0), (r * r).sum(axis=0),
                      np.full(r.shape[1], r.shape[0], np.float64)])
        old = acc.get(node.name)
        acc[node.name] = [s] if old is None else [np.stack([np.minimum(old[0][0], s[0]), np.maximum(old[0][1], s[1]),
                                                            old[0][2] + s[2], old[0][3] + s[3], old[0][4] + s[4]])]

    observe_inputs(graph, feeds, [c.b for c in cands], seen)
    out = {}
    for name, (s,) in acc.items():
        mean = s[2] / s[4]
        std = np.sqrt(np.maximum(s[3] / s[4] - mean * mean, 0.0))
        out[name] = np.stack([s[0], s[1], mean, std])
    return out


def absorption(stats: np.ndarray, high: float) -> np.ndarray:
    """c per channel from (min, max, mean, std) rows (see the module): 0 where the activation clipped."""
    mn, mx, mean, std = stats
    c = np.maximum(0.0, np.minimum(mn, mean - SIGMAS * std))
    return np.where(mx >= high, 0.0, c)


def response(node: Node, c: np.ndarray) -> np.ndarray:
    """B's weights applied to the constant input ``c`` at every tap (no bias): what B's output loses
    when its input drops by c."""
    axes = op_spec(node.op).weights
    w = np.asarray(node.inputs[axes.input].const, np.float64)  # type: ignore[union-attr]
    if op_spec(node.op).spatial:
        kh, kw = kernel_size(node)
        m = np.broadcast_to(c, (1, kh, kw, c.size))
    else:
        m = c.reshape(1, -1)
    return expected_output(node, w, m)[0]


def absorb_high_biases(graph: Graph, feeds: Feeds) -> Absorption:
    """Move each candidate's c (:func:`absorption` of calibration statistics) from A's bias into B's, in
    place; returns what moved. Candidates are rewritten in one pass, from statistics of the graph as
    given (a layer that is B of one pair and A of the next sees its input drop by c and its bias rise
    by B(c): its output, hence its statistics, are unchanged on the data)."""
    result = Absorption(samples=feeds.samples)
    cands = find_candidates(graph, result)
    if not cands:
        return result
    stats = _stats(graph, feeds, cands)
    for cand in cands:
        c = absorption(stats[cand.b.name], cand.high)
        if not np.any(c > 0):
            continue
        ba, bb = cand.a.inputs[2], cand.b.inputs[2]
        new_a = np.asarray(ba.const, np.float64) - c  # type: ignore[union-attr]
        new_b = np.asarray(bb.const, np.float64) + response(cand.b, c)  # type: ignore[union-attr]
        graph.replace_const(ba, new_a.astype(ba.const.dtype), refresh=False)  # type: ignore[union-attr,arg-type]
        graph.replace_const(bb, new_b.astype(bb.const.dtype), refresh=False)  # type: ignore[union-attr,arg-type]
        result.moved[_where(cand.a)] = (float(c.max()), int(np.count_nonzero(c)))
    return result


__all__ = ["HBA_SAMPLES", "SIGMAS", "Absorption", "Candidate", "absorb_high_biases", "absorption",
           "find_candidates", "linear_above_zero", "response"]

"""The per-layer quantization debugger: the float model and the quantized model, both emitted as
``.tflite`` and run in keras2edge.runtime on eval (or calibration) data, compared at every Keras layer.

What is compared (``layermap``): each Keras layer's output values, found in both files through the
emissions' value maps; each graph input counts as an ``InputLayer``. Per layer, two errors
(``errorstats``: SQNR, cosine, max abs error, RMSE, RMSE / scale as TFLite's QuantizationDebugger):

* **accumulated** — the quantized model run whole: the error of everything up to and including the
  layer (the runtime's ``observer`` hook reads each layer's integer output, dequantized with its
  parameters);
* **layer-local** — the layer's own integer kernels run alone (``local``: a sub-model cut from the
  quantized graph), fed the float model's values of its inputs, quantized with the parameters the
  quantized model gives them: the error the layer adds by itself. A graph input's local error is its
  accumulated one (its quantization is all there is).

Plus top-1 of the model's first output (argmax; a single sigmoid unit: > 0.5): accuracy of both
models with labels, agreement of the quantized with the float model always; the weight bytes of each
layer in both graphs; and the rule of ``report`` marks bad layers and suggests an action. Everything streams batch by batch, and a batch
runs in chunks of samples whose compared tensors fit :data:`COMPARE_BYTES`; the sums make the result
independent of the chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..convert.tflite import TFLiteEmission, emit_tflite, write_model
from ..errors import QuantizationError, RuntimeModelError, UnsupportedOpError
from ..ir.dtypes import DType
from ..ir.graph import Graph
from ..ir.ops import op_spec
from ..runtime import Interpreter
from ..runtime.kernels.quant import affine_dequantize, affine_quantize
from ..runtime.limits import Limits
from ..runtime.loader import OpInfo
from .errorstats import ErrorStats
from .evaldata import EvalData
from .layermap import Tensor, layer_outputs, quantized_tensor, value_names
from .local import LayerGraph, layer_graph
from .report import LayerReport, QuantReport, suggest
from .weightdiff import constant_changes

if TYPE_CHECKING:
    from .data import Source
    from .schemes import QuantizeOptions

_PRECISION = {DType.INT8: "int8", DType.UINT8: "int8", DType.INT16: "int16"}
#: The quantized graph's metadata line saying which algorithms ran ("cle: ...; bias_correction: ...").
ALGORITHMS_KEY = "quantization_algorithms"


class ModelRunner:
    """An emission's ``.tflite`` bytes in a runtime Interpreter, fed float arrays (integer inputs are
    quantized as the model's QUANTIZE would) in the fixed batch the file may require, capturing the
    tensors asked for (copies, concatenated over the chunks)."""

    def __init__(self, emission: TFLiteEmission, what: str) -> None:
        self.blob = write_model(emission.model)
        try:
            self.interp = Interpreter(self.blob)
        except (UnsupportedOpError, RuntimeModelError) as e:
            raise QuantizationError(f"the quantization report runs {what} as .tflite in keras2edge's runtime, "
                                    f"which failed: {e}") from e
        details = self.interp.get_input_details()
        by_index = {int(d["index"]): k for k, d in enumerate(details)}
        self.inputs: list[tuple[int, int, Tensor]] = []  # (slot, tensor index, tensor) in graph input order
        for v in emission.graph.inputs:
            t = emission.values[v.name].index
            self.inputs.append((by_index[t], t, Tensor(t, v.name, v.quant, v.dtype)))
        sig = [d["shape_signature"] for d in details]
        self.batch = None if all(len(s) and int(s[0]) == -1 for s in sig) else int(details[0]["shape"][0])

    def run(self, xs: Sequence[np.ndarray], capture: set[int]) -> dict[int, np.ndarray]:
        """Run on float arrays ``xs`` (graph input order); the captured tensors by index."""
        n = xs[0].shape[0]
        step = n if self.batch is None else self.batch
        parts: dict[int, list[np.ndarray]] = {t: [] for t in capture}

        def observe(_k: int, op: OpInfo, outputs: Sequence[np.ndarray]) -> None:
            for t, arr in zip(op.output_indices, outputs):
                if t in parts:
                    parts[t].append(np.array(arr))

        for s in range(0, n - step + 1, step):
            feed: list[np.ndarray | None] = [None] * len(self.inputs)
            for (slot, t, info), x in zip(self.inputs, xs):
                arr = x[s:s + step]
                if info.quant is not None:
                    arr = affine_quantize(arr, info.quant.scale[0], info.quant.zero_point[0], info.dtype.np)
                feed[slot] = arr
                if t in parts:
                    parts[t].append(arr)
            self.interp.run(feed if len(feed) > 1 else feed[0], observer=observe)
        return {t: (p[0] if len(p) == 1 else np.concatenate(p)) for t, p in parts.items() if p}


def dequantized(arr: np.ndarray, t: Tensor) -> np.ndarray:
    """A captured tensor as real values (float32), dequantized as DEQUANTIZE does when it is integer."""
    if t.quant is None:
        return np.asarray(arr, np.float32)
    return affine_dequantize(arr, t.quant.scale[0], t.quant.zero_point[0])


@dataclass
class _Local:
    layer: str
    cut: LayerGraph
    runner: ModelRunner
    tensors: list[Tensor]  # the sub-model's outputs, in cut.compares order


def _local(q: TFLiteEmission, layer: str, outputs: list[tuple[str, str]]) -> _Local | None:
    cut = layer_graph(q.graph, layer, outputs)
    if cut is None:
        return None
    em = emit_tflite(cut.graph)
    tensors = []
    for v in cut.graph.outputs:
        lv = em.graph.outputs[[o.name for o in em.graph.outputs].index(v.name)]
        tensors.append(Tensor(em.values[lv.name].index, lv.name, lv.quant if lv.dtype != DType.FLOAT32 else None,
                              lv.dtype))
    return _Local(layer, cut, ModelRunner(em, f"layer {layer!r} alone"), tensors)


def _const_bytes(g: Graph) -> dict[str, int]:
    """Keras layer -> bytes of the constants its nodes read (each constant once)."""
    seen: set[int] = set()
    out: dict[str, int] = {}
    for n in g.nodes:
        if n.origin is None:
            continue
        for v in n.inputs:
            if v is not None and v.is_const and id(v) not in seen:
                seen.add(id(v))
                out[n.origin.layer] = out.get(n.origin.layer, 0) + int(v.const.nbytes)  # type: ignore[union-attr]
    return out


def _weight_types(g: Graph) -> dict[str, str]:
    """Keras layer -> "int8 weights" / "float16 weights" when its nodes read such constants (the
    precision of a layer whose activations stay float: the weight-only schemes)."""
    names = {DType.INT8: "int8 weights", DType.FLOAT16: "float16 weights"}
    out: dict[str, str] = {}
    for n in g.nodes:
        for v in n.inputs:
            if n.origin is not None and v is not None and v.is_const and v.dtype in names:
                out.setdefault(n.origin.layer, names[v.dtype])
    return out


def _weights(g: Graph) -> dict[str, bool]:
    """Keras layer -> whether its weights are quantized per tensor (present for layers with weights)."""
    out: dict[str, bool] = {}
    for n in g.nodes:
        axes = op_spec(n.op).weights
        if n.origin is None or axes is None or axes.input >= len(n.inputs):
            continue
        w = n.inputs[axes.input]
        if w is None:
            continue
        p = w.producer
        src = p.inputs[0] if p is not None and p.op == "Dequantize" else w
        if src is None or not src.is_const:
            continue
        channels = src.shape[axes.out_axis] if src.quant is not None and axes.out_axis < len(src.shape) else 1
        per_tensor = src.quant is not None and src.quant.axis is None and (channels or 1) > 1
        out[n.origin.layer] = out.get(n.origin.layer, False) or per_tensor
    return out


def _top1(x: np.ndarray) -> np.ndarray:
    """Each sample's class: the argmax of its output, or — one output unit (a sigmoid) — unit > 0.5."""
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] == 1:
        return (flat[:, 0] > 0.5).astype(np.int64)
    return np.argmax(flat, axis=1)


def reference_graph(graph: Graph, options: QuantizeOptions | None) -> Graph:
    """The float graph whose values the quantized graph's values stand for: ``graph`` itself, or —
    when the int8 scheme equalizes it before calibrating (``options.cle``: cross-layer equalization
    rescales the channels between two layers, the model's outputs unchanged) — its equalized copy, the
    same one the scheme computes (``quantize/algorithms.py``, deterministic)."""
    if options is None or not options.cle or options.scheme != "int8":
        return graph
    try:
        from .algorithms import before_calibration  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # a build without the accuracy-preserving algorithms: nothing was equalized
        return graph
    return before_calibration(graph, options, {})


def debug_quantization(float_graph: Graph, quant_graph: Graph, data: Source | EvalData, *,
                       options: QuantizeOptions | None = None, batch_size: int = 32, local: bool = True,
                       limits: Limits | None = None, original: Graph | None = None) -> QuantReport:
    """Compare ``quant_graph`` with the ``float_graph`` it was quantized from, layer by layer (see the
    module), on ``data`` (eval data: inputs, optionally labels; or calibration data).

    Args:
        float_graph: the float IR graph the quantized one stands for (:func:`reference_graph` of the
            graph given to ``keras2edge.quantize``: itself unless equalized).
        quant_graph: its quantized graph (any scheme whose ``.tflite`` the runtime runs).
        data: an :class:`EvalData` or anything it takes (arrays, dict with ``labels``/``y``, ``.npz`` path...).
        options: the options it was quantized with (shown in the report; ``per_tensor`` etc.).
        batch_size: samples run at once.
        local: also measure the layer-local errors (one sub-model per layer).
        limits: memory limits for reading the data.
        original: the graph before any rewrite of its weights (equalization), whose constants the
            report's "constants" column compares with the quantized ones (default ``float_graph``).

    Raises:
        QuantizationError: data that does not fit the model, or a model the runtime cannot run.
    """
    ef = emit_tflite(float_graph)
    eq = emit_tflite(quant_graph)
    fr, qr = ModelRunner(ef, "the float model"), ModelRunner(eq, "the quantized model")
    evald = data if isinstance(data, EvalData) else EvalData(data, [(v.name, v.shape) for v in ef.graph.inputs],
                                                             batch_size, limits=limits)
    layers = layer_outputs(ef)
    qnames = value_names(eq.graph)
    pairs: dict[str, list[tuple[str, int, Tensor]]] = {}
    for lay in layers:
        for name in lay.outputs:
            qt = quantized_tensor(eq, name, qnames, computed=lay.cls != "InputLayer")
            if qt is not None:
                pairs.setdefault(lay.name, []).append((name, ef.values[name].index, qt))
    out_name = ef.graph.outputs[0].name
    locals_: list[_Local] = []
    if local:
        for lay in layers:
            if lay.cls != "InputLayer" and lay.name in pairs:
                loc = _local(eq, lay.name, [(n, qt.name) for n, _, qt in pairs[lay.name]])
                if loc is not None:
                    locals_.append(loc)
    f_index = {name: t for ps in pairs.values() for name, t, _ in ps}
    for loc in locals_:
        for name in loc.cut.feeds:
            if name not in f_index and name in ef.values:
                f_index[name] = ef.values[name].index
    f_index.setdefault(out_name, ef.values[out_name].index)
    acc = {(lay, name): ErrorStats(_scale(qt)) for lay, ps in pairs.items() for name, _, qt in ps}
    loc_stats = {(loc.layer, name): ErrorStats(_scale(t)) for loc in locals_ for name, t in
                 zip(loc.cut.compares, loc.tensors)}
    q_capture = {qt.index for ps in pairs.values() for _, _, qt in ps}
    step = _chunk_samples(ef, f_index, batch_size)
    tally = [0, 0, 0, 0]  # samples, float correct, quantized correct, agreeing

    def measure(xs: list[np.ndarray], labels: np.ndarray | None) -> None:
        """One chunk: the float run, the quantized run, each layer alone; the sums updated."""
        fcap = fr.run(xs, set(f_index.values()))
        fvals = {name: fcap[t] for name, t in f_index.items() if t in fcap}
        if out_name not in fvals:
            return  # no complete fixed-size batch in this chunk
        qcap = qr.run(xs, q_capture)
        qout = None
        for lay, ps in pairs.items():
            for name, _, qt in ps:
                if qt.index in qcap and name in fvals:
                    got = dequantized(qcap[qt.index], qt)
                    acc[(lay, name)].update(fvals[name], got)
                    if name == out_name:
                        qout = got
        del qcap
        for loc in locals_:
            if not all(n in fvals for n in loc.cut.feeds):
                continue
            cap = loc.runner.run([fvals[n] for n in loc.cut.feeds], {t.index for t in loc.tensors})
            for name, t in zip(loc.cut.compares, loc.tensors):
                if t.index in cap and name in fvals:
                    loc_stats[(loc.layer, name)].update(fvals[name], dequantized(cap[t.index], t))
        n = fvals[out_name].shape[0]
        fp = _top1(fvals[out_name])
        qp = _top1(qout) if qout is not None else fp
        tally[0] += n
        tally[3] += int(np.sum(fp == qp))
        if labels is not None:
            tally[1] += int(np.sum(fp == labels[:n]))
            tally[2] += int(np.sum(qp == labels[:n]))

    for batch, labels in evald:
        count = next(iter(batch.values())).shape[0]
        for s0 in range(0, count, step):
            measure([batch[v.name][s0:s0 + step] for v in ef.graph.inputs],
                    None if labels is None else labels[s0:s0 + step])
    samples, correct_f, correct_q, agree = tally
    if not samples:
        raise QuantizationError(f"{evald.where}: no complete batch ran")
    weights_of = ef.graph if original is None or original is float_graph else emit_tflite(original).graph
    return _report(float_graph, quant_graph, ef, eq, fr, qr, layers, pairs, acc, loc_stats, options, evald,
                   samples, correct_f, correct_q, agree, weights_of)


#: Memory for the tensors compared at once (float model's layer outputs, quantized ones): batches are
#: run in chunks of samples that fit.
COMPARE_BYTES = 256 << 20


def _chunk_samples(ef: TFLiteEmission, f_index: dict[str, int], batch_size: int) -> int:
    """Samples per chunk so that the captured float tensors (and their quantized twins, at most as
    large) take at most :data:`COMPARE_BYTES`; a multiple of a fixed batch size when the file has one."""
    shapes = {v.name: v.shape for v in ef.graph.inputs}
    for n in ef.graph.nodes:
        for v in n.outputs:
            shapes[v.name] = v.shape
    per_sample = 0
    for name in f_index:
        dims = shapes.get(name, ())
        per_sample += 8 * int(np.prod([d or 1 for d in dims[1:]], dtype=np.int64))
    fixed = ef.graph.inputs[0].shape[0] if ef.graph.inputs and ef.graph.inputs[0].shape else None
    step = max(1, min(batch_size, COMPARE_BYTES // max(per_sample, 1)))
    if fixed:
        step = max(fixed, step // fixed * fixed)
    return step


def _scale(t: Tensor) -> float | None:
    return None if t.quant is None else float(t.quant.scale[0])


def _merge(stats: list[ErrorStats]) -> ErrorStats:
    """One layer's several outputs as one tensor (sums added)."""
    if len(stats) == 1:
        return stats[0]
    m = ErrorStats(stats[0].scale)
    for s in stats:
        m.ff += s.ff
        m.ee += s.ee
        m.fq += s.fq
        m.qq += s.qq
        m.max_abs = max(m.max_abs, s.max_abs)
        m.n += s.n
        if s.ch_ff is not None and s.ch_ee is not None:  # the outputs' channels side by side
            m.ch_ff = s.ch_ff if m.ch_ff is None else np.concatenate([m.ch_ff, s.ch_ff])
            m.ch_ee = s.ch_ee if m.ch_ee is None else np.concatenate([m.ch_ee, s.ch_ee])
    return m


def _report(float_graph: Graph, quant_graph: Graph, ef: TFLiteEmission, eq: TFLiteEmission, fr: ModelRunner,
            qr: ModelRunner, layers: list[Any], pairs: dict[str, list[tuple[str, int, Tensor]]],
            acc: dict[tuple[str, str], ErrorStats], loc_stats: dict[tuple[str, str], ErrorStats],
            options: QuantizeOptions | None, evald: EvalData, samples: int, correct_f: int, correct_q: int,
            agree: int, weights_of: Graph) -> QuantReport:
    fbytes, qbytes = _const_bytes(ef.graph), _const_bytes(eq.graph)
    weights = _weights(eq.graph)
    changes = constant_changes(weights_of, eq.graph)
    wtypes = _weight_types(eq.graph)
    rows: list[LayerReport] = []
    for lay in layers:
        ps = pairs.get(lay.name)
        if not ps:
            continue
        a = _merge([acc[(lay.name, n)] for n, _, _ in ps]).result()
        ls = [loc_stats[(lay.name, n)] for n, _, _ in ps if (lay.name, n) in loc_stats and loc_stats[(lay.name, n)].n]
        lm = _merge(ls).result() if ls else a
        precision = _PRECISION.get(ps[0][2].dtype) or wtypes.get(lay.name, "float")
        row = LayerReport(lay.name, lay.cls, precision, [n for n, _, _ in ps], a, lm,
                          fbytes.get(lay.name, 0), qbytes.get(lay.name, 0), has_weights=lay.name in weights,
                          per_tensor=weights.get(lay.name, False))
        ch = changes.get(lay.name)
        if ch is not None:
            row.weights_lsb, row.bias_lsb, row.changed = ch.weights_lsb, ch.bias_lsb, ch.describe()
        row.bad, row.suggestion = suggest(row)
        rows.append(row)
    opts: dict[str, Any] = {}
    algos: dict[str, Any] = {}
    if options is not None:
        opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.__dict__.items()
                if k != "calibration" and isinstance(v, (str, int, float, bool, tuple, type(None)))}
        for k in ("cle", "bias_correction", "adaround"):
            algos[k] = "auto" if getattr(options, k, None) is None else getattr(options, k)
    for part in str(quant_graph.metadata.get(ALGORITHMS_KEY, "")).split(";"):
        name, sep, what = part.partition(":")
        if sep and name.strip():
            algos[name.strip()] = what.strip()
    labelled = evald.labelled
    out_name = ef.graph.outputs[0].name
    out_sqnr = next((r.accumulated.sqnr_db for r in rows if out_name in r.outputs), float("nan"))
    return QuantReport(model=float_graph.name, scheme=str(quant_graph.metadata.get("quantization")
                                                                  or (options.scheme if options else "?")),
                       options=opts, algorithms=algos, samples=samples, labelled=labelled,
                       float_top1=correct_f / samples if labelled else None,
                       quant_top1=correct_q / samples if labelled else None, agreement=agree / samples,
                       float_size=len(fr.blob), quant_size=len(qr.blob), layers=rows, output_sqnr_db=out_sqnr)


__all__ = ["ALGORITHMS_KEY", "ModelRunner", "debug_quantization", "dequantized", "reference_graph"]

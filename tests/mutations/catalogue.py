"""The mutant catalogue: deliberate, realistic bugs that the test suite must catch.

Each :class:`Mutant` replaces one exact snippet (``old``, found exactly once in ``file``, a path
relative to ``src/keras2edge``) with ``new``. ``tests`` is the selection of tests expected to catch
it (pytest arguments relative to the repository); the runner falls back to the whole default suite
when the selection passes. ``expected`` names, for a mutant that survived when it was written, the
test work expected to catch it.

Kinds (the issue's list): gate order, kernel orientation, kernel flip, padding, epsilon, layout
permutation, softmax axis, flatten order, bias sign, depth multiplier, fused activation, weight
transpose, dilation, axis, resize, activation.
"""

from __future__ import annotations

from dataclasses import dataclass

# Test selections (pytest arguments, relative to the repository root).
FIXTURES = "tests/test_fixtures.py"
CORPUS = "tests/test_corpus.py"
CLI = "tests/test_cli.py"
KERAS = "tests/convert/keras/layers"
ONNX = "tests/convert/onnx"
TFLITE = "tests/convert/tflite"
RUNTIME = "tests/runtime"
PASSES = "tests/ir/passes"
BACKEND = "tests/convert/keras/test_backend.py"
QRUNTIME = "tests/runtime/kernels/quantized"
INT8_MODELS = "tests/runtime/test_int8_models.py"

# Tests whose result depends on the machine's load, never run by the mutation script (they would
# "catch" mutants at random on a busy machine). Each is a defect to fix in its own test file.
TIMING_DEPENDENT: dict[str, str] = {}  # none today (the reader fuzz test counts mutants, never times them)



@dataclass(frozen=True)
class Mutant:
    id: str
    kind: str
    file: str  # relative to src/keras2edge
    old: str
    new: str
    description: str
    tests: tuple[str, ...]
    expected: str = ""  # for a survivor: the test expected to catch it once merged


MUTANTS: tuple[Mutant, ...] = (
    # ------------------------------------------------------------------ importer: recurrent gates
    Mutant("lstm-gate-order", "gate order", "convert/keras/layers/recurrent.py",
           "zi, zf, zc, zo = _gate_split(ctx, z, 4, u)",
           "zi, zc, zf, zo = _gate_split(ctx, z, 4, u)",
           "LSTM gates read as i, c, f, o (Keras 1's stored order) instead of Keras 2's i, f, c, o",
           (FIXTURES, CORPUS, KERAS)),
    Mutant("gru-gate-order", "gate order", "convert/keras/layers/recurrent.py",
           "xz, xr, xh = _gate_split(ctx, xw, 3, u)",
           "xr, xz, xh = _gate_split(ctx, xw, 3, u)",
           "GRU input gates read as r, z, h (PyTorch's order) instead of Keras' z, r, h",
           (FIXTURES, KERAS, CORPUS)),
    Mutant("keras1-split-gate-order", "gate order", "convert/keras/legacy.py",
           'gates = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h")}.get(cls)',
           'gates = {"LSTM": ("i", "c", "f", "o"), "GRU": ("z", "r", "h")}.get(cls)',
           "Keras 1 split LSTM arrays fused in their stored order i, c, f, o instead of Keras 2's i, f, c, o",
           (CORPUS, KERAS)),
    # ------------------------------------------------------------------ importer: Keras 1 / Theano kernels
    Mutant("keras1-gru-split-gate-order", "gate order", "convert/keras/legacy.py",
           '"GRU": ("z", "r", "h")}.get(cls)',
           '"GRU": ("r", "z", "h")}.get(cls)',
           "Keras 1 split GRU arrays fused as r, z, h instead of z, r, h",
           (CORPUS, KERAS)),
    Mutant("th-kernel-rows-cols", "kernel orientation", "convert/keras/legacy.py",
           "return np.transpose(k, (2, 3, 1, 0))",
           "return np.transpose(k, (3, 2, 1, 0))",
           "Keras 1 'th' Conv2D kernel (out, in, rows, cols) -> (cols, rows, in, out): height and width swapped",
           (BACKEND, CORPUS, KERAS)),
    Mutant("theano-flip-dropped", "kernel flip", "convert/keras/legacy.py",
           "np.ascontiguousarray(np.flip(k, axis=flip))",
           "np.ascontiguousarray(k)",
           "Theano-backend conv kernels not flipped (Theano convolves, TensorFlow correlates)",
           (CORPUS, KERAS)),
    Mutant("theano-flip-rows-only", "kernel flip", "convert/keras/legacy.py",
           "flip = tuple(range(k.ndim - 2))",
           "flip = (0,)",
           "Theano-backend Conv2D kernels flipped along rows only, not columns",
           (CORPUS, KERAS)),
    # ------------------------------------------------------------------ importer: layers
    Mutant("flatten-channels-first-order", "flatten order", "convert/keras/layers/core.py",
           "perm=(0,) + tuple(range(2, x.rank)) + (1,))",
           "perm=(0, x.rank - 1) + tuple(range(1, x.rank - 1)))",
           "channels_first Flatten moves axes with the inverse permutation (NHWC -> NCHW) instead of channels last",
           (FIXTURES, KERAS, CORPUS)),
    Mutant("dense-bias-sign", "bias sign", "convert/keras/layers/core.py",
           'ctx.const("bias", ctx.check_shape(arrs[1], (units,), "bias"))',
           'ctx.const("bias", -ctx.check_shape(arrs[1], (units,), "bias"))',
           "Dense bias subtracted instead of added",
           (FIXTURES, CLI, KERAS)),
    Mutant("conv1d-causal-pad-side", "padding", "convert/keras/layers/conv.py",
           "pads=((0, 0), ((lay.k[0] - 1) * lay.d[0], 0), (0, 0))",
           "pads=((0, 0), (0, (lay.k[0] - 1) * lay.d[0]), (0, 0))",
           "causal Conv1D padded on the right (future) instead of the left",
           (CORPUS, FIXTURES, KERAS)),
    Mutant("depthwise-multiplier-order", "depth multiplier", "convert/keras/layers/conv.py",
           "return k.reshape((1,) + k.shape[:2] + (k.shape[2] * k.shape[3],))",
           "return np.swapaxes(k, 2, 3).reshape((1,) + k.shape[:2] + (k.shape[2] * k.shape[3],))",
           "depthwise kernel flattened in m*Cin+c order instead of Keras' c*M+m",
           (KERAS, FIXTURES)),
    Mutant("layernorm-epsilon-placement", "epsilon", "convert/keras/layers/normalization.py",
           'inv = ctx.op("Rsqrt", [ctx.op("Add", [var, ctx.scalar(eps, x)])])',
           'inv = ctx.op("Div", [ctx.scalar(1.0, x), ctx.op("Add", [ctx.op("Sqrt", [var]), ctx.scalar(eps, x)])])',
           "LayerNormalization 1/(sqrt(var)+eps) instead of 1/sqrt(var+eps)",
           (FIXTURES, KERAS)),
    Mutant("hard-sigmoid-keras3-slope", "activation", "convert/keras/layers/activations.py",
           "slope = 1.0 / 6.0 if ctx.options.major >= 3 else 0.2",
           "slope = 0.2",
           "Keras 3 hard_sigmoid with Keras 2's slope 0.2 instead of 1/6",
           (FIXTURES, KERAS)),
    Mutant("softmax-axis-inverse-perm", "softmax axis", "convert/keras/layers/advanced_activations.py",
           "inverse = tuple(perm.index(i) for i in range(x.rank))",
           "inverse = perm",
           "Softmax(axis) moved back with its permutation instead of the inverse one",
           (FIXTURES, KERAS)),
    Mutant("bidirectional-backward-not-reversed", "layout permutation", "convert/keras/layers/wrappers.py",
           'np.arange(steps - 1, -1, -1, dtype=np.int32)',
           'np.arange(steps, dtype=np.int32)',
           "Bidirectional(return_sequences) backward sequence concatenated in processed (reversed) order",
           (FIXTURES, CORPUS, KERAS)),
    # ------------------------------------------------------------------ IR passes
    Mutant("bn-fold-epsilon-placement", "epsilon", "ir/ops/normalization.py",
           "scale = 1.0 / np.sqrt(np.asarray(var, np.float64) + float(epsilon))",
           "scale = 1.0 / (np.sqrt(np.asarray(var, np.float64)) + float(epsilon))",
           "BatchNorm fold with 1/(sqrt(var)+eps) instead of 1/sqrt(var+eps)",
           (FIXTURES, CORPUS, PASSES, KERAS)),
    Mutant("bn-fold-conv-bias-unscaled", "bias sign", "ir/passes/fold_batchnorm.py",
           "new_b = old_b * scale + shift",
           "new_b = old_b + shift",
           "BatchNorm folded into a conv without scaling the conv's own bias",
           (PASSES, FIXTURES, CORPUS)),
    Mutant("bn-fold-shift-sign", "bias sign", "ir/ops/normalization.py",
           "shift = -mean * scale",
           "shift = mean * scale",
           "BatchNorm shift with +mean instead of -mean",
           (PASSES, FIXTURES, CORPUS)),
    Mutant("bn-fold-beta-scaled", "bias sign", "ir/ops/normalization.py",
           "shift = shift + beta",
           "shift = shift + beta * scale",
           "BatchNorm beta multiplied by the scale like the mean",
           (PASSES, FIXTURES, CORPUS)),
    Mutant("bn-fold-scale-wrong-axis", "weight transpose", "ir/passes/fold_batchnorm.py",
           "    shape = [w.shape[a] if a == axis else 1 for a in range(w.ndim)]\n",
           "    shape = [w.shape[a] if a == w.ndim - 1 else 1 for a in range(w.ndim)]\n",
           "BatchNorm scale folded along the weight's last axis instead of its output-channel axis "
           "(wrong for TransposeConv2D's (KH, KW, Cout, Cin))",
           (PASSES, FIXTURES)),
    # ------------------------------------------------------------------ shared IR arithmetic
    Mutant("ir-same-pads-extra-before", "padding", "ir/ops/core.py",
           "    return total // 2, total - total // 2\n",
           "    return total - total // 2, total // 2\n",
           "TF 'same' padding with the odd extra pixel before (Caffe's split); shared by IR evaluate, "
           "the importer and the ONNX emitter",
           (FIXTURES, ONNX, CORPUS)),
    # ------------------------------------------------------------------ ONNX emitter
    Mutant("onnx-pads-order", "padding", "convert/onnx/ops_conv.py",
           'return {"pads": [t, l, b, r]}',
           'return {"pads": [t, b, l, r]}',
           "ONNX pads written (top, bottom, left, right) instead of (begins..., ends...)",
           (ONNX, FIXTURES)),
    Mutant("onnx-conv-dilation-dropped", "dilation", "convert/onnx/ops_conv.py",
           "dilations=list(d), group=group,",
           "group=group,",
           "ONNX Conv without its dilations attribute (default 1)",
           (ONNX, FIXTURES)),
    Mutant("onnx-conv-kernel-hw-swap", "kernel orientation", "convert/onnx/ops_conv.py",
           '_kernel(ctx, node, w, "oihw", (3, 2, 0, 1))',
           '_kernel(ctx, node, w, "oihw", (3, 2, 1, 0))',
           "ONNX Conv weights HWIO -> OIWH (kernel height and width swapped)",
           (ONNX, FIXTURES)),
    Mutant("onnx-depthwise-kernel-hw-swap", "kernel orientation", "convert/onnx/ops_conv.py",
           '_kernel(ctx, node, w, "dw_oihw", (3, 0, 1, 2))',
           '_kernel(ctx, node, w, "dw_oihw", (3, 0, 2, 1))',
           "ONNX depthwise weights (1, KH, KW, C) -> (C, 1, KW, KH) (kernel height and width swapped)",
           (ONNX, FIXTURES)),
    Mutant("onnx-transpose-conv-io-swap", "kernel orientation", "convert/onnx/ops_conv.py",
           '_kernel(ctx, node, w, "iohw", (3, 2, 0, 1))',
           '_kernel(ctx, node, w, "iohw", (2, 3, 0, 1))',
           "ONNX ConvTranspose weights (Cout, Cin, KH, KW) instead of (Cin, Cout, KH, KW)",
           (ONNX, FIXTURES)),
    Mutant("onnx-cf-perm-spatial-reversed", "layout permutation", "convert/onnx/layout.py",
           "return [0, rank - 1] + list(range(1, rank - 1))",
           "return [0, rank - 1] + list(range(rank - 2, 0, -1))",
           "channels-first layout NCWH (spatial axes reversed) instead of NCHW",
           (ONNX, FIXTURES)),
    Mutant("onnx-fc-rows-inverse-perm", "flatten order", "convert/onnx/layout.py",
           "sub = [r - 1] + list(range(r - 1))",
           "sub = list(range(1, r)) + [0]",
           "Flatten-into-Dense weight rows permuted with the inverse permutation",
           (ONNX, FIXTURES, CORPUS)),
    Mutant("onnx-softmax-axis", "softmax axis", "convert/onnx/ops_activation.py",
           "axis=onnx_axis(-1, x.rank, layout))",
           "axis=-1)",
           "Softmax on ONNX's last axis even when the tensor is held channels first",
           (ONNX, FIXTURES)),
    # ------------------------------------------------------------------ TFLite emitter
    Mutant("tflite-padding-enum", "padding", "convert/tflite/ops_conv.py",
           '    if p == "same":\n        return PADDING_SAME\n    if p == "valid":\n        return PADDING_VALID\n',
           '    if p == "same":\n        return PADDING_VALID\n    if p == "valid":\n        return PADDING_SAME\n',
           "TFLite Padding enum values swapped (SAME written as VALID and back)",
           (TFLITE, RUNTIME)),
    Mutant("tflite-fused-relu6-as-relu", "fused activation", "convert/tflite/emitter.py",
           '"relu6": ACT_RELU6,',
           '"relu6": ACT_RELU,',
           "Relu6 folded into its producer as fused RELU (no upper clamp)",
           (TFLITE, RUNTIME)),
    Mutant("tflite-fc-weights-reshaped", "weight transpose", "convert/tflite/ops_dense.py",
           'wt = ctx.const_value(w, "nk", lambda a: a.T)',
           'wt = ctx.const_value(w, "nk", lambda a: a.reshape(a.shape[::-1]))',
           "FULLY_CONNECTED weights (K, N) reshaped to (N, K) instead of transposed",
           (TFLITE, RUNTIME)),
    Mutant("tflite-conv-kernel-hw-swap", "kernel orientation", "convert/tflite/ops_conv.py",
           '"ohwi", lambda a: np.transpose(a, (3, 0, 1, 2))',
           '"ohwi", lambda a: np.transpose(a, (3, 1, 0, 2))',
           "CONV_2D weights HWIO -> OWHI (kernel height and width swapped)",
           (TFLITE, RUNTIME)),
    # ------------------------------------------------------------------ runtime kernels
    Mutant("runtime-conv-pad-extra-before", "padding", "runtime/kernels/base.py",
           "    return total // 2, total - total // 2\n",
           "    return total - total // 2, total // 2\n",
           "runtime SAME padding with the odd extra pixel before",
           (RUNTIME, TFLITE)),
    Mutant("runtime-depthwise-multiplier-order", "depth multiplier", "runtime/kernels/conv.py",
           "np.copyto(rep.reshape(n, h, wd, cin, mult), xv[..., None])",
           "np.copyto(rep.reshape(n, h, wd, mult, cin), xv[..., None, :])",
           "runtime DEPTHWISE_CONV_2D replicates inputs in m*Cin+c order instead of c*M+m",
           (RUNTIME, TFLITE)),
    Mutant("runtime-mean-first-axis-only", "axis", "runtime/kernels/reduce.py",
           "return tuple(sorted({norm_axis(ctx, int(a), rank) for a in raw}))",
           "return tuple(sorted({norm_axis(ctx, int(a), rank) for a in raw}))[:1]",
           "runtime reductions over the first listed axis only",
           (RUNTIME, TFLITE)),
    Mutant("runtime-resize-align-corners-ignored", "resize", "runtime/kernels/resize.py",
           "if align and n_out > 1:\n        return F32(n_in - 1) / F32(n_out - 1)",
           "if align and n_out > 1:\n        return F32(n_in) / F32(n_out)",
           "runtime resize scale ignores align_corners",
           (RUNTIME, TFLITE)),
    Mutant("runtime-resize-half-pixel-offset", "resize", "runtime/kernels/resize.py",
           "v = (o + F32(0.5)) * scale - F32(0.5) if half else o * scale",
           "v = (o + F32(0.5)) * scale if half else o * scale",
           "runtime bilinear half_pixel_centers without the -0.5 shift",
           (RUNTIME, TFLITE)),
    # ------------------------------------------------------------------ int8 runtime (TFLM arithmetic)
    Mutant("int8-requant-half-up", "rounding", "runtime/kernels/quantized/common.py",
           "np.copysign(self.offset, z, out=t)",
           "np.copysign(self.offset, 1.0, out=t)",
           "int8 requantization fast path rounds negative values half-up (single rounding) instead of TFLM's "
           "double rounding", (QRUNTIME, INT8_MODELS)),
    Mutant("int8-requant-no-tie-band", "rounding", "runtime/kernels/quantized/common.py",
           "ETA = 2.0 ** -30",
           "ETA = 0.0",
           "int8 requantization never recomputes near-ties exactly (rint rounds exact ties half-even)",
           (QRUNTIME,)),
    Mutant("int8-requant32-no-tie-band", "rounding", "runtime/kernels/quantized/common.py",
           "None if relu else off.astype(np.float32), 0.5 - eta)",
           "None if relu else off.astype(np.float32), 0.5)",
           "int8 float32 requantization never recomputes the elements its error band cannot decide",
           (QRUNTIME,)),
    Mutant("int8-requant32-relu-offset", "rounding", "runtime/kernels/quantized/common.py",
           "const = b * mc + (exact.zero_point + off if relu else 0.0)",
           "const = b * mc + (exact.zero_point if relu else 0.0)",
           "int8 float32 requantization drops RDBPOT's half-away offset under a ReLU-like clamp",
           (QRUNTIME,)),
    Mutant("int8-conv-zero-point-sign", "zero point", "runtime/kernels/quantized/conv.py",
           "np.subtract(ins[0], st.zp_in, out=gemm.xf(tmp), dtype=gemm.ft)",
           "np.add(ins[0], st.zp_in, out=gemm.xf(tmp), dtype=gemm.ft)",
           "int8 CONV_2D adds the input zero point instead of subtracting it",
           (QRUNTIME, INT8_MODELS)),
    Mutant("int8-pointwise-stream-zero-point-sign", "zero point", "runtime/kernels/quantized/conv.py",
           "np.subtract(x2[r0:r1], zp, out=xb, dtype=self.ft)",
           "np.add(x2[r0:r1], zp, out=xb, dtype=self.ft)",
           "int8 pointwise CONV_2D (streamed per block of pixels) adds the input zero point instead of subtracting it",
           (QRUNTIME, INT8_MODELS)),
    Mutant("int8-depthwise-multiplier-order", "depth multiplier", "runtime/kernels/quantized/conv.py",
           "out=tmp[self.ixf].reshape(n, h, wd, cin, m)",
           "out=tmp[self.ixf].reshape(n, h, wd, m, cin).swapaxes(-1, -2)",
           "int8 DEPTHWISE_CONV_2D replicates inputs in m*Cin+c order instead of c*M+m",
           (QRUNTIME,)),
    Mutant("int8-add-left-shift", "rounding", "runtime/kernels/quantized/elementwise.py",
           "left_shift = fp.ADD_LEFT_SHIFT if int8 else 15",
           "left_shift = 15",
           "int8 ADD/SUB use int16's left shift 15 instead of 20 (coarser rescaling)",
           (QRUNTIME,)),
    Mutant("int8-average-pool-floor", "rounding", "runtime/kernels/quantized/pool.py",
           "half, inv = np.floor(n_taps / 2) + 0.5, 1.0 / n_taps",
           "half, inv = 0.5, 1.0 / n_taps",
           "int8 AVERAGE_POOL_2D truncates the average instead of rounding half away from zero",
           (QRUNTIME, INT8_MODELS)),
)

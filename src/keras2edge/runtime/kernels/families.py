"""Which op family each TFLite builtin with a kernel belongs to: the one table, family -> builtins.

The family names are the project's (the same in ``ir/ops/``, ``convert/onnx/``, ``convert/tflite/`` and
here); a builtin's family is that of the IR op that lowers to it, and its kernels live in
``runtime/kernels/<family>.py`` (a test checks every registered kernel against this table, both ways).
"""

from __future__ import annotations

FAMILIES: dict[str, tuple[str, ...]] = {
    "elementwise": (
        "ADD", "SUB", "MUL", "DIV", "POW", "FLOOR_DIV", "FLOOR_MOD", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE",
        "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SIN", "COS", "FLOOR", "CEIL", "ROUND", "SIGN",
        "EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL",
        "LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT", "SELECT", "SELECT_V2", "CAST",
    ),
    "activation": (
        "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "GELU", "ELU",
        "LEAKY_RELU", "PRELU", "SOFTMAX", "LOG_SOFTMAX",
    ),
    "conv": ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"),
    "dense": ("FULLY_CONNECTED", "BATCH_MATMUL"),
    "pool": ("MAX_POOL_2D", "AVERAGE_POOL_2D"),
    "reduce": ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY", "REDUCE_ALL",
               "ARG_MAX", "ARG_MIN"),
    "shape": (
        "RESHAPE", "TRANSPOSE", "CONCATENATION", "PAD", "PADV2", "MIRROR_PAD", "STRIDED_SLICE", "SLICE", "GATHER",
        "SQUEEZE", "EXPAND_DIMS", "SPLIT", "SPLIT_V", "TILE", "PACK", "UNPACK", "SHAPE", "BROADCAST_TO",
        "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND",
    ),
    "resize": ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"),
    "quant": ("QUANTIZE", "DEQUANTIZE", "DENSIFY"),
}

#: Builtin name -> family (derived from :data:`FAMILIES`).
FAMILY_OF: dict[str, str] = {op: family for family, ops in FAMILIES.items() for op in ops}


def family_of(op: str) -> str | None:
    """The family of a TFLite builtin (``"SOFTMAX"`` -> ``"activation"``), or None if it has no kernel."""
    return FAMILY_OF.get(op)

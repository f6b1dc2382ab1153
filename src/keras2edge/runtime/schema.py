"""The subset of the TFLite flatbuffer schema (``schema.fbs``, version 3) that keras2edge reads and writes.

Declarative data, taken as facts from the public schema (google-ai-edge/LiteRT
``tflite/converter/schema/schema.fbs``): for every table, its fields in declaration order (the
order *is* the vtable slot number; a union field takes two slots, ``<name>_type`` then
``<name>``; deprecated fields keep their slot), each with a type and a default; the enums; the
``BuiltinOperator`` enum; the ``BuiltinOptions`` union (tag = position, NONE = 0) and which options
table each operator uses. The same tables drive the zero-dependency reader (``runtime.reader``)
and the writer (``convert.tflite.writer``), so a slot can only be wrong in one place; tests check
every slot and code against two independent generated bindings.

No flatbuffers import: this module is plain data plus tiny lookup helpers.

Field types (``Field.kind``):

* a scalar kind — ``bool byte ubyte short ushort int uint long ulong float double`` (enum-typed
  fields use the enum's underlying kind and name the enum in ``Field.enum``);
* ``string``;
* ``vector`` — ``Field.elem`` is a scalar kind, ``string`` or a table name;
* ``table`` — ``Field.ref`` is the table name;
* ``union_type`` (a ubyte tag) and ``union`` (the value) — ``Field.ref`` is the union name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------------------------------------
# Scalars: kind -> (struct format, byte size, default)

SCALARS: dict[str, tuple[str, int]] = {
    "bool": ("<B", 1), "byte": ("<b", 1), "ubyte": ("<B", 1), "short": ("<h", 2), "ushort": ("<H", 2),
    "int": ("<i", 4), "uint": ("<I", 4), "long": ("<q", 8), "ulong": ("<Q", 8),
    "float": ("<f", 4), "double": ("<d", 8),
}
#: inclusive value range of the integer kinds (bool: 0/1).
INT_RANGES: dict[str, tuple[int, int]] = {
    "bool": (0, 1), "byte": (-2**7, 2**7 - 1), "ubyte": (0, 2**8 - 1), "short": (-2**15, 2**15 - 1),
    "ushort": (0, 2**16 - 1), "int": (-2**31, 2**31 - 1), "uint": (0, 2**32 - 1),
    "long": (-2**63, 2**63 - 1), "ulong": (0, 2**64 - 1),
}
#: NumPy dtype string of each scalar kind as stored (little-endian).
NUMPY_DTYPES: dict[str, str] = {
    "bool": "<u1", "byte": "<i1", "ubyte": "<u1", "short": "<i2", "ushort": "<u2", "int": "<i4",
    "uint": "<u4", "long": "<i8", "ulong": "<u8", "float": "<f4", "double": "<f8",
}

# ---------------------------------------------------------------------------------------------
# Enums (name -> value) and their underlying scalar kind.

ENUMS: dict[str, dict[str, int]] = {
    "TensorType": {
        "FLOAT32": 0, "FLOAT16": 1, "INT32": 2, "UINT8": 3, "INT64": 4, "STRING": 5, "BOOL": 6,
        "INT16": 7, "COMPLEX64": 8, "INT8": 9, "FLOAT64": 10, "COMPLEX128": 11, "UINT64": 12,
        "RESOURCE": 13, "VARIANT": 14, "UINT32": 15, "UINT16": 16, "INT4": 17, "BFLOAT16": 18,
        "INT2": 19, "UINT4": 20, "FLOAT8_E4M3FN": 21, "FLOAT8_E5M2": 22,
    },
    "Padding": {"SAME": 0, "VALID": 1},
    "ActivationFunctionType": {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4, "SIGN_BIT": 5},
    "FullyConnectedOptionsWeightsFormat": {"DEFAULT": 0, "SHUFFLED4x16INT8": 1},
    "LSTMKernelType": {"FULL": 0, "BASIC": 1},
    "LSHProjectionType": {"UNKNOWN": 0, "SPARSE": 1, "DENSE": 2},
    "CombinerType": {"SUM": 0, "MEAN": 1, "SQRTN": 2},
    "MirrorPadMode": {"REFLECT": 0, "SYMMETRIC": 1},
    "CustomOptionsFormat": {"FLEXBUFFERS": 0},
    "DimensionType": {"DENSE": 0, "SPARSE_CSR": 1},
}
#: Bits per element of the TensorTypes with a fixed element size (STRING, RESOURCE and VARIANT have
#: none). Sub-byte types are packed: a buffer needs ceil(n * bits / 8) bytes.
TENSOR_TYPE_BITS: dict[int, int] = {
    0: 32, 1: 16, 2: 32, 3: 8, 4: 64, 6: 8, 7: 16, 8: 64, 9: 8, 10: 64, 11: 128, 12: 64, 15: 32, 16: 16,
    17: 4, 18: 16, 19: 2, 20: 4, 21: 8, 22: 8,
}

ENUM_KINDS: dict[str, str] = {name: "byte" for name in ENUMS}
ENUM_KINDS["BuiltinOperator"] = "int"

#: BuiltinOperator enum, complete up to STABLEHLO_CASE (schema.fbs ``enum BuiltinOperator : int32``).
BUILTIN_OPERATORS: dict[str, int] = {name: code for code, name in enumerate((
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION",
    "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D",
    "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX",
    "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM",
    "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
    "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
    "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG",
    "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
    "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
    "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR",
    "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
    "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
    "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N",
    "GATHER_ND", "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE",
    "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
    "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
    "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM", "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D",
    "IMAG", "REAL", "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT", "HASHTABLE_SIZE",
    "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE",
    "BROADCAST_ARGS", "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL", "GELU",
    "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD", "UNSORTED_SEGMENT_MAX",
    "UNSORTED_SEGMENT_SUM", "ATAN2", "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR",
    "RIGHT_SHIFT", "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE", "STABLEHLO_MULTIPLY",
    "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE", "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE",
    "STABLEHLO_BROADCAST_IN_DIM", "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL",
    "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE", "STABLEHLO_EXPONENTIAL",
    "STABLEHLO_FLOOR", "STABLEHLO_LOG", "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR",
    "STABLEHLO_POWER", "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT", "STABLEHLO_SUBTRACT",
    "STABLEHLO_TANH", "STABLEHLO_SCATTER", "STABLEHLO_COMPARE", "STABLEHLO_CONVERT",
    "STABLEHLO_DYNAMIC_SLICE", "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD", "STABLEHLO_IOTA",
    "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT", "STABLEHLO_WHILE",
    "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE", "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW",
    "STABLEHLO_COMPOSITE", "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",
))}
BUILTIN_OPERATOR_NAMES: dict[int, str] = {code: name for name, code in BUILTIN_OPERATORS.items()}
ENUMS["BuiltinOperator"] = BUILTIN_OPERATORS

#: Codes >= this go in ``OperatorCode.builtin_code`` only; ``deprecated_builtin_code`` holds 127.
PLACEHOLDER_FOR_GREATER_OP_CODES = 127
CUSTOM = BUILTIN_OPERATORS["CUSTOM"]

#: BuiltinOptions union members in declaration order: tag = index + 1 (0 = NONE).
BUILTIN_OPTIONS: tuple[str, ...] = (
    "Conv2DOptions", "DepthwiseConv2DOptions", "ConcatEmbeddingsOptions", "LSHProjectionOptions",
    "Pool2DOptions", "SVDFOptions", "RNNOptions", "FullyConnectedOptions", "SoftmaxOptions",
    "ConcatenationOptions", "AddOptions", "L2NormOptions", "LocalResponseNormalizationOptions",
    "LSTMOptions", "ResizeBilinearOptions", "CallOptions", "ReshapeOptions", "SkipGramOptions",
    "SpaceToDepthOptions", "EmbeddingLookupSparseOptions", "MulOptions", "PadOptions", "GatherOptions",
    "BatchToSpaceNDOptions", "SpaceToBatchNDOptions", "TransposeOptions", "ReducerOptions", "SubOptions",
    "DivOptions", "SqueezeOptions", "SequenceRNNOptions", "StridedSliceOptions", "ExpOptions",
    "TopKV2Options", "SplitOptions", "LogSoftmaxOptions", "CastOptions", "DequantizeOptions",
    "MaximumMinimumOptions", "ArgMaxOptions", "LessOptions", "NegOptions", "PadV2Options",
    "GreaterOptions", "GreaterEqualOptions", "LessEqualOptions", "SelectOptions", "SliceOptions",
    "TransposeConvOptions", "SparseToDenseOptions", "TileOptions", "ExpandDimsOptions", "EqualOptions",
    "NotEqualOptions", "ShapeOptions", "PowOptions", "ArgMinOptions", "FakeQuantOptions", "PackOptions",
    "LogicalOrOptions", "OneHotOptions", "LogicalAndOptions", "LogicalNotOptions", "UnpackOptions",
    "FloorDivOptions", "SquareOptions", "ZerosLikeOptions", "FillOptions",
    "BidirectionalSequenceLSTMOptions", "BidirectionalSequenceRNNOptions",
    "UnidirectionalSequenceLSTMOptions", "FloorModOptions", "RangeOptions", "ResizeNearestNeighborOptions",
    "LeakyReluOptions", "SquaredDifferenceOptions", "MirrorPadOptions", "AbsOptions", "SplitVOptions",
    "UniqueOptions", "ReverseV2Options", "AddNOptions", "GatherNdOptions", "CosOptions", "WhereOptions",
    "RankOptions", "ReverseSequenceOptions", "MatrixDiagOptions", "QuantizeOptions",
    "MatrixSetDiagOptions", "HardSwishOptions", "IfOptions", "WhileOptions", "DepthToSpaceOptions",
    "NonMaxSuppressionV4Options", "NonMaxSuppressionV5Options", "ScatterNdOptions", "SelectV2Options",
    "DensifyOptions", "SegmentSumOptions", "BatchMatMulOptions", "CumsumOptions", "CallOnceOptions",
    "BroadcastToOptions", "Rfft2dOptions", "Conv3DOptions", "HashtableOptions", "HashtableFindOptions",
    "HashtableImportOptions", "HashtableSizeOptions", "VarHandleOptions", "ReadVariableOptions",
    "AssignVariableOptions", "RandomOptions", "BucketizeOptions", "GeluOptions",
    "DynamicUpdateSliceOptions", "UnsortedSegmentProdOptions", "UnsortedSegmentMaxOptions",
    "UnsortedSegmentMinOptions", "UnsortedSegmentSumOptions", "ATan2Options", "SignOptions",
    "BitcastOptions", "BitwiseXorOptions", "RightShiftOptions",
)
#: options table name -> union tag.
OPTIONS_TAGS: dict[str, int] = {name: i + 1 for i, name in enumerate(BUILTIN_OPTIONS)}

#: Other unions (members in order; tag = index + 1). Their values are not decoded by keras2edge:
#: a file that uses them is reported as unsupported.
UNIONS: dict[str, tuple[str, ...]] = {
    "BuiltinOptions": BUILTIN_OPTIONS,
    "QuantizationDetails": ("CustomQuantization", "BlockwiseQuantization", "MultiAxisQuantization"),
    "SparseIndexVector": ("Int32Vector", "Uint16Vector", "Uint8Vector"),
    # BuiltinOptions2 holds StableHLO options only; its 23 members are not declared here.
    "BuiltinOptions2": (),
}

#: The options table each operator uses (ops absent here take no options: NONE).
#: The converter writes NONE for some ops whose table is empty (e.g. HARD_SWISH, QUANTIZE).
OP_OPTIONS: dict[str, str] = {
    "ADD": "AddOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "CONCATENATION": "ConcatenationOptions",
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "DEPTH_TO_SPACE": "DepthToSpaceOptions", "DEQUANTIZE": "DequantizeOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "L2_NORMALIZATION": "L2NormOptions",
    "L2_POOL_2D": "Pool2DOptions", "LOCAL_RESPONSE_NORMALIZATION": "LocalResponseNormalizationOptions",
    "LSH_PROJECTION": "LSHProjectionOptions", "LSTM": "LSTMOptions", "MAX_POOL_2D": "Pool2DOptions",
    "MUL": "MulOptions", "RESHAPE": "ReshapeOptions", "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "RNN": "RNNOptions", "SOFTMAX": "SoftmaxOptions", "SPACE_TO_DEPTH": "SpaceToDepthOptions",
    "SVDF": "SVDFOptions", "CONCAT_EMBEDDINGS": "ConcatEmbeddingsOptions", "SKIP_GRAM": "SkipGramOptions",
    "CALL": "CallOptions", "EMBEDDING_LOOKUP_SPARSE": "EmbeddingLookupSparseOptions", "PAD": "PadOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions", "GATHER": "GatherOptions",
    "BATCH_TO_SPACE_ND": "BatchToSpaceNDOptions", "SPACE_TO_BATCH_ND": "SpaceToBatchNDOptions",
    "TRANSPOSE": "TransposeOptions", "MEAN": "ReducerOptions", "SUB": "SubOptions", "DIV": "DivOptions",
    "SQUEEZE": "SqueezeOptions", "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    "STRIDED_SLICE": "StridedSliceOptions", "BIDIRECTIONAL_SEQUENCE_RNN": "BidirectionalSequenceRNNOptions",
    "EXP": "ExpOptions", "TOPK_V2": "TopKV2Options", "SPLIT": "SplitOptions",
    "LOG_SOFTMAX": "LogSoftmaxOptions", "BIDIRECTIONAL_SEQUENCE_LSTM": "BidirectionalSequenceLSTMOptions",
    "CAST": "CastOptions", "MAXIMUM": "MaximumMinimumOptions", "ARG_MAX": "ArgMaxOptions",
    "MINIMUM": "MaximumMinimumOptions", "LESS": "LessOptions", "NEG": "NegOptions", "PADV2": "PadV2Options",
    "GREATER": "GreaterOptions", "GREATER_EQUAL": "GreaterEqualOptions", "LESS_EQUAL": "LessEqualOptions",
    "SELECT": "SelectOptions", "SLICE": "SliceOptions", "TRANSPOSE_CONV": "TransposeConvOptions",
    "SPARSE_TO_DENSE": "SparseToDenseOptions", "TILE": "TileOptions", "EXPAND_DIMS": "ExpandDimsOptions",
    "EQUAL": "EqualOptions", "NOT_EQUAL": "NotEqualOptions", "SUM": "ReducerOptions",
    "SHAPE": "ShapeOptions", "POW": "PowOptions", "ARG_MIN": "ArgMinOptions",
    "FAKE_QUANT": "FakeQuantOptions", "REDUCE_PROD": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
    "PACK": "PackOptions", "LOGICAL_OR": "LogicalOrOptions", "ONE_HOT": "OneHotOptions",
    "LOGICAL_AND": "LogicalAndOptions", "LOGICAL_NOT": "LogicalNotOptions", "UNPACK": "UnpackOptions",
    "REDUCE_MIN": "ReducerOptions", "FLOOR_DIV": "FloorDivOptions", "REDUCE_ANY": "ReducerOptions",
    "SQUARE": "SquareOptions", "ZEROS_LIKE": "ZerosLikeOptions", "FILL": "FillOptions",
    "FLOOR_MOD": "FloorModOptions", "RANGE": "RangeOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions", "LEAKY_RELU": "LeakyReluOptions",
    "SQUARED_DIFFERENCE": "SquaredDifferenceOptions", "MIRROR_PAD": "MirrorPadOptions",
    "ABS": "AbsOptions", "SPLIT_V": "SplitVOptions", "UNIQUE": "UniqueOptions",
    "REVERSE_V2": "ReverseV2Options", "ADD_N": "AddNOptions", "GATHER_ND": "GatherNdOptions",
    "COS": "CosOptions", "WHERE": "WhereOptions", "RANK": "RankOptions",
    "REVERSE_SEQUENCE": "ReverseSequenceOptions", "MATRIX_DIAG": "MatrixDiagOptions",
    "QUANTIZE": "QuantizeOptions", "MATRIX_SET_DIAG": "MatrixSetDiagOptions",
    "HARD_SWISH": "HardSwishOptions", "IF": "IfOptions", "WHILE": "WhileOptions",
    "NON_MAX_SUPPRESSION_V4": "NonMaxSuppressionV4Options",
    "NON_MAX_SUPPRESSION_V5": "NonMaxSuppressionV5Options", "SCATTER_ND": "ScatterNdOptions",
    "SELECT_V2": "SelectV2Options", "DENSIFY": "DensifyOptions", "SEGMENT_SUM": "SegmentSumOptions",
    "BATCH_MATMUL": "BatchMatMulOptions", "CUMSUM": "CumsumOptions", "CALL_ONCE": "CallOnceOptions",
    "BROADCAST_TO": "BroadcastToOptions", "RFFT2D": "Rfft2dOptions", "CONV_3D": "Conv3DOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions", "HASHTABLE": "HashtableOptions",
    "HASHTABLE_FIND": "HashtableFindOptions", "HASHTABLE_IMPORT": "HashtableImportOptions",
    "HASHTABLE_SIZE": "HashtableSizeOptions", "REDUCE_ALL": "ReducerOptions",
    "VAR_HANDLE": "VarHandleOptions", "READ_VARIABLE": "ReadVariableOptions",
    "ASSIGN_VARIABLE": "AssignVariableOptions", "RANDOM_STANDARD_NORMAL": "RandomOptions",
    "BUCKETIZE": "BucketizeOptions", "RANDOM_UNIFORM": "RandomOptions", "MULTINOMIAL": "RandomOptions",
    "GELU": "GeluOptions", "DYNAMIC_UPDATE_SLICE": "DynamicUpdateSliceOptions",
    "UNSORTED_SEGMENT_PROD": "UnsortedSegmentProdOptions", "UNSORTED_SEGMENT_MAX": "UnsortedSegmentMaxOptions",
    "UNSORTED_SEGMENT_SUM": "UnsortedSegmentSumOptions", "ATAN2": "ATan2Options",
    "UNSORTED_SEGMENT_MIN": "UnsortedSegmentMinOptions", "SIGN": "SignOptions", "BITCAST": "BitcastOptions",
    "BITWISE_XOR": "BitwiseXorOptions", "RIGHT_SHIFT": "RightShiftOptions",
}


# ---------------------------------------------------------------------------------------------
# Tables


@dataclass(frozen=True)
class Field:
    """One field of a table: its vtable slot, name, type and default (see the module docstring)."""

    slot: int
    name: str
    kind: str
    default: Any = None
    elem: str | None = None  # vector element: scalar kind, "string" or table name
    ref: str | None = None  # table name (kind "table") or union name ("union", "union_type")
    enum: str | None = None  # enum name of an enum-typed scalar
    deprecated: bool = False

    @property
    def is_scalar(self) -> bool:
        return self.kind in SCALARS


@dataclass(frozen=True)
class Table:
    """A table: its fields in slot order (``fields[i].slot`` may exceed ``i`` after a union)."""

    name: str
    fields: tuple[Field, ...]
    by_name: dict[str, Field] = field(compare=False, repr=False)

    @property
    def num_slots(self) -> int:
        return self.fields[-1].slot + 1 if self.fields else 0

    @property
    def live_fields(self) -> tuple[Field, ...]:
        """The non-deprecated fields (what the reader decodes and the writer accepts)."""
        return tuple(f for f in self.fields if not f.deprecated)


def _table(name: str, *specs: tuple) -> Table:
    """Table from ``(name, type[, default][, "deprecated"])`` specs in schema.fbs order.

    ``type`` is a scalar kind, an enum name, ``"string"``, ``"[T]"`` (vector), a table name, or
    ``"union:U"`` (two slots). Slots are assigned in order, exactly as flatc does.
    """
    fields: list[Field] = []
    slot = 0
    for spec in specs:
        fname, ftype, *rest = spec
        deprecated = "deprecated" in rest
        rest = [r for r in rest if r != "deprecated"]
        if ftype.startswith("union:"):
            union = ftype[len("union:"):]
            fields.append(Field(slot, f"{fname}_type", "union_type", 0, ref=union, deprecated=deprecated))
            fields.append(Field(slot + 1, fname, "union", None, ref=union, deprecated=deprecated))
            slot += 2
            continue
        if ftype in SCALARS:
            default = rest[0] if rest else (False if ftype == "bool" else 0.0 if ftype in ("float", "double") else 0)
            f = Field(slot, fname, ftype, default, deprecated=deprecated)
        elif ftype in ENUM_KINDS:
            default = ENUMS[ftype][rest[0]] if rest else 0
            f = Field(slot, fname, ENUM_KINDS[ftype], default, enum=ftype, deprecated=deprecated)
        elif ftype == "string":
            f = Field(slot, fname, "string", None, deprecated=deprecated)
        elif ftype.startswith("["):
            elem = ftype[1:-1]
            elem = ENUM_KINDS.get(elem, elem)
            f = Field(slot, fname, "vector", None, elem=elem, deprecated=deprecated)
        else:
            f = Field(slot, fname, "table", None, ref=ftype, deprecated=deprecated)
        fields.append(f)
        slot += 1
    return Table(name, tuple(fields), {f.name: f for f in fields})


_ACT = ("fused_activation_function", "ActivationFunctionType")

_TABLE_LIST: tuple[Table, ...] = (
    # --- the model structure -----------------------------------------------------------------
    _table("Model", ("version", "uint"), ("operator_codes", "[OperatorCode]"), ("subgraphs", "[SubGraph]"),
           ("description", "string"), ("buffers", "[Buffer]"), ("metadata_buffer", "[int]"),
           ("metadata", "[Metadata]"), ("signature_defs", "[SignatureDef]"),
           ("external_buffer_groups", "[ExternalBufferGroup]"), ("external_buffers", "[ExternalBuffer]")),
    _table("SubGraph", ("tensors", "[Tensor]"), ("inputs", "[int]"), ("outputs", "[int]"),
           ("operators", "[Operator]"), ("name", "string"), ("debug_metadata_index", "int", -1)),
    _table("Tensor", ("shape", "[int]"), ("type", "TensorType"), ("buffer", "uint"), ("name", "string"),
           ("quantization", "QuantizationParameters"), ("is_variable", "bool"),
           ("sparsity", "SparsityParameters"), ("shape_signature", "[int]"), ("has_rank", "bool"),
           ("variant_tensors", "[VariantSubType]"), ("external_buffer", "uint")),
    _table("QuantizationParameters", ("min", "[float]"), ("max", "[float]"), ("scale", "[float]"),
           ("zero_point", "[long]"), ("details", "union:QuantizationDetails"), ("quantized_dimension", "int")),
    _table("CustomQuantization", ("custom", "[ubyte]")),
    _table("BlockwiseQuantization", ("scales", "int"), ("zero_points", "int"), ("block_size", "int")),
    _table("MultiAxisQuantization", ("scales", "int"), ("zero_points", "int"), ("block_size", "int"),
           ("quantized_dimensions", "[int]")),
    _table("Int32Vector", ("values", "[int]")),
    _table("Uint16Vector", ("values", "[ushort]")),
    _table("Uint8Vector", ("values", "[ubyte]")),
    _table("DimensionMetadata", ("format", "DimensionType"), ("dense_size", "int"),
           ("array_segments", "union:SparseIndexVector"), ("array_indices", "union:SparseIndexVector")),
    _table("SparsityParameters", ("traversal_order", "[int]"), ("block_map", "[int]"),
           ("dim_metadata", "[DimensionMetadata]")),
    _table("VariantSubType", ("shape", "[int]"), ("type", "TensorType"), ("has_rank", "bool")),
    _table("Buffer", ("data", "[ubyte]"), ("offset", "ulong"), ("size", "ulong")),
    _table("ExternalBufferGroup", ("name", "string")),
    _table("ExternalBuffer", ("id", "uint"), ("group", "uint"), ("offset", "ulong"), ("length", "ulong"),
           ("packing", "string")),
    _table("OperatorCode", ("deprecated_builtin_code", "byte"), ("custom_code", "string"),
           ("version", "int", 1), ("builtin_code", "BuiltinOperator")),
    _table("Operator", ("opcode_index", "uint"), ("inputs", "[int]"), ("outputs", "[int]"),
           ("builtin_options", "union:BuiltinOptions"), ("custom_options", "[ubyte]"),
           ("custom_options_format", "CustomOptionsFormat"), ("mutating_variable_inputs", "[bool]"),
           ("intermediates", "[int]"), ("large_custom_options_offset", "ulong"),
           ("large_custom_options_size", "ulong"), ("builtin_options_2", "union:BuiltinOptions2"),
           ("debug_metadata_index", "int", -1)),
    _table("Metadata", ("name", "string"), ("buffer", "uint")),
    _table("TensorMap", ("name", "string"), ("tensor_index", "uint")),
    _table("SignatureDef", ("inputs", "[TensorMap]"), ("outputs", "[TensorMap]"), ("signature_key", "string"),
           ("deprecated_tag", "string", "deprecated"), ("subgraph_index", "uint")),
    # --- BuiltinOptions tables (all members of the union) --------------------------------------
    _table("Conv2DOptions", ("padding", "Padding"), ("stride_w", "int"), ("stride_h", "int"), _ACT,
           ("dilation_w_factor", "int", 1), ("dilation_h_factor", "int", 1), ("quantized_bias_type", "TensorType")),
    _table("DepthwiseConv2DOptions", ("padding", "Padding"), ("stride_w", "int"), ("stride_h", "int"),
           ("depth_multiplier", "int"), _ACT, ("dilation_w_factor", "int", 1), ("dilation_h_factor", "int", 1)),
    _table("ConcatEmbeddingsOptions", ("num_channels", "int"), ("num_columns_per_channel", "[int]"),
           ("embedding_dim_per_channel", "[int]")),
    _table("LSHProjectionOptions", ("type", "LSHProjectionType")),
    _table("Pool2DOptions", ("padding", "Padding"), ("stride_w", "int"), ("stride_h", "int"),
           ("filter_width", "int"), ("filter_height", "int"), _ACT),
    _table("SVDFOptions", ("rank", "int"), _ACT, ("asymmetric_quantize_inputs", "bool")),
    _table("RNNOptions", _ACT, ("asymmetric_quantize_inputs", "bool")),
    _table("FullyConnectedOptions", _ACT, ("weights_format", "FullyConnectedOptionsWeightsFormat"),
           ("keep_num_dims", "bool"), ("asymmetric_quantize_inputs", "bool"), ("quantized_bias_type", "TensorType")),
    _table("SoftmaxOptions", ("beta", "float")),
    _table("ConcatenationOptions", ("axis", "int"), _ACT),
    _table("AddOptions", _ACT, ("pot_scale_int16", "bool", True)),
    _table("L2NormOptions", _ACT),
    _table("LocalResponseNormalizationOptions", ("radius", "int"), ("bias", "float"), ("alpha", "float"),
           ("beta", "float")),
    _table("LSTMOptions", _ACT, ("cell_clip", "float"), ("proj_clip", "float"), ("kernel_type", "LSTMKernelType"),
           ("asymmetric_quantize_inputs", "bool")),
    _table("ResizeBilinearOptions", ("new_height", "int", "deprecated"), ("new_width", "int", "deprecated"),
           ("align_corners", "bool"), ("half_pixel_centers", "bool")),
    _table("CallOptions", ("subgraph", "uint")),
    _table("ReshapeOptions", ("new_shape", "[int]")),
    _table("SkipGramOptions", ("ngram_size", "int"), ("max_skip_size", "int"), ("include_all_ngrams", "bool")),
    _table("SpaceToDepthOptions", ("block_size", "int")),
    _table("EmbeddingLookupSparseOptions", ("combiner", "CombinerType")),
    _table("MulOptions", _ACT),
    _table("PadOptions"),
    _table("GatherOptions", ("axis", "int"), ("batch_dims", "int", 0)),
    _table("BatchToSpaceNDOptions"),
    _table("SpaceToBatchNDOptions"),
    _table("TransposeOptions"),
    _table("ReducerOptions", ("keep_dims", "bool")),
    _table("SubOptions", _ACT, ("pot_scale_int16", "bool", True)),
    _table("DivOptions", _ACT),
    _table("SqueezeOptions", ("squeeze_dims", "[int]")),
    _table("SequenceRNNOptions", ("time_major", "bool"), _ACT, ("asymmetric_quantize_inputs", "bool")),
    _table("StridedSliceOptions", ("begin_mask", "int"), ("end_mask", "int"), ("ellipsis_mask", "int"),
           ("new_axis_mask", "int"), ("shrink_axis_mask", "int"), ("offset", "bool")),
    _table("ExpOptions"),
    _table("TopKV2Options"),
    _table("SplitOptions", ("num_splits", "int")),
    _table("LogSoftmaxOptions"),
    _table("CastOptions", ("in_data_type", "TensorType"), ("out_data_type", "TensorType")),
    _table("DequantizeOptions"),
    _table("MaximumMinimumOptions"),
    _table("ArgMaxOptions", ("output_type", "TensorType")),
    _table("LessOptions"),
    _table("NegOptions"),
    _table("PadV2Options"),
    _table("GreaterOptions"),
    _table("GreaterEqualOptions"),
    _table("LessEqualOptions"),
    _table("SelectOptions"),
    _table("SliceOptions"),
    _table("TransposeConvOptions", ("padding", "Padding"), ("stride_w", "int"), ("stride_h", "int"),
           (*_ACT, "NONE"), ("quantized_bias_type", "TensorType")),
    _table("SparseToDenseOptions", ("validate_indices", "bool")),
    _table("TileOptions"),
    _table("ExpandDimsOptions"),
    _table("EqualOptions"),
    _table("NotEqualOptions"),
    _table("ShapeOptions", ("out_type", "TensorType")),
    _table("PowOptions"),
    _table("ArgMinOptions", ("output_type", "TensorType")),
    _table("FakeQuantOptions", ("min", "float"), ("max", "float"), ("num_bits", "int"), ("narrow_range", "bool")),
    _table("PackOptions", ("values_count", "int"), ("axis", "int")),
    _table("LogicalOrOptions"),
    _table("OneHotOptions", ("axis", "int")),
    _table("LogicalAndOptions"),
    _table("LogicalNotOptions"),
    _table("UnpackOptions", ("num", "int"), ("axis", "int")),
    _table("FloorDivOptions"),
    _table("SquareOptions"),
    _table("ZerosLikeOptions"),
    _table("FillOptions"),
    _table("BidirectionalSequenceLSTMOptions", _ACT, ("cell_clip", "float"), ("proj_clip", "float"),
           ("merge_outputs", "bool"), ("time_major", "bool", True), ("asymmetric_quantize_inputs", "bool")),
    _table("BidirectionalSequenceRNNOptions", ("time_major", "bool"), _ACT, ("merge_outputs", "bool"),
           ("asymmetric_quantize_inputs", "bool")),
    _table("UnidirectionalSequenceLSTMOptions", _ACT, ("cell_clip", "float"), ("proj_clip", "float"),
           ("time_major", "bool"), ("asymmetric_quantize_inputs", "bool"), ("diagonal_recurrent_tensors", "bool")),
    _table("FloorModOptions"),
    _table("RangeOptions"),
    _table("ResizeNearestNeighborOptions", ("align_corners", "bool"), ("half_pixel_centers", "bool")),
    _table("LeakyReluOptions", ("alpha", "float")),
    _table("SquaredDifferenceOptions"),
    _table("MirrorPadOptions", ("mode", "MirrorPadMode")),
    _table("AbsOptions"),
    _table("SplitVOptions", ("num_splits", "int")),
    _table("UniqueOptions", ("idx_out_type", "TensorType", "INT32")),
    _table("ReverseV2Options"),
    _table("AddNOptions"),
    _table("GatherNdOptions"),
    _table("CosOptions"),
    _table("WhereOptions"),
    _table("RankOptions"),
    _table("ReverseSequenceOptions", ("seq_dim", "int"), ("batch_dim", "int", 0)),
    _table("MatrixDiagOptions"),
    _table("QuantizeOptions"),
    _table("MatrixSetDiagOptions"),
    _table("HardSwishOptions"),
    _table("IfOptions", ("then_subgraph_index", "int"), ("else_subgraph_index", "int")),
    _table("WhileOptions", ("cond_subgraph_index", "int"), ("body_subgraph_index", "int")),
    _table("DepthToSpaceOptions", ("block_size", "int")),
    _table("NonMaxSuppressionV4Options"),
    _table("NonMaxSuppressionV5Options"),
    _table("ScatterNdOptions"),
    _table("SelectV2Options"),
    _table("DensifyOptions"),
    _table("SegmentSumOptions"),
    _table("BatchMatMulOptions", ("adj_x", "bool"), ("adj_y", "bool"), ("asymmetric_quantize_inputs", "bool")),
    _table("CumsumOptions", ("exclusive", "bool"), ("reverse", "bool")),
    _table("CallOnceOptions", ("init_subgraph_index", "int")),
    _table("BroadcastToOptions"),
    _table("Rfft2dOptions"),
    _table("Conv3DOptions", ("padding", "Padding"), ("stride_d", "int"), ("stride_w", "int"), ("stride_h", "int"),
           _ACT, ("dilation_d_factor", "int", 1), ("dilation_w_factor", "int", 1), ("dilation_h_factor", "int", 1)),
    _table("HashtableOptions", ("table_id", "int"), ("key_dtype", "TensorType"), ("value_dtype", "TensorType")),
    _table("HashtableFindOptions"),
    _table("HashtableImportOptions"),
    _table("HashtableSizeOptions"),
    _table("VarHandleOptions", ("container", "string"), ("shared_name", "string")),
    _table("ReadVariableOptions"),
    _table("AssignVariableOptions"),
    _table("RandomOptions", ("seed", "long"), ("seed2", "long")),
    _table("BucketizeOptions", ("boundaries", "[float]")),
    _table("GeluOptions", ("approximate", "bool")),
    _table("DynamicUpdateSliceOptions"),
    _table("UnsortedSegmentProdOptions"),
    _table("UnsortedSegmentMaxOptions"),
    _table("UnsortedSegmentMinOptions"),
    _table("UnsortedSegmentSumOptions"),
    _table("ATan2Options"),
    _table("SignOptions"),
    _table("BitcastOptions"),
    _table("BitwiseXorOptions"),
    _table("RightShiftOptions"),
)

#: table name -> Table.
TABLES: dict[str, Table] = {t.name: t for t in _TABLE_LIST}


# ---------------------------------------------------------------------------------------------
# Lookup helpers


def op_code(name: str) -> int:
    """BuiltinOperator code of an op name (``"CONV_2D"`` -> 3); KeyError names the unknown op."""
    try:
        return BUILTIN_OPERATORS[name]
    except KeyError:
        raise KeyError(f"unknown TFLite builtin operator {name!r}") from None


def op_name(code: int) -> str:
    """BuiltinOperator name of a code (3 -> ``"CONV_2D"``); unknown codes give ``"UNKNOWN_<code>"``."""
    return BUILTIN_OPERATOR_NAMES.get(code, f"UNKNOWN_{code}")


def options_table(tag: int) -> Table | None:
    """The options table of a BuiltinOptions union tag; None for 0 (NONE) or an unknown tag."""
    if 1 <= tag <= len(BUILTIN_OPTIONS):
        return TABLES[BUILTIN_OPTIONS[tag - 1]]
    return None


def options_for_op(op: str | int) -> tuple[int, str] | None:
    """``(union tag, options table name)`` an operator uses, or None if it takes no options."""
    name = op_name(op) if isinstance(op, int) else op
    table = OP_OPTIONS.get(name)
    return None if table is None else (OPTIONS_TAGS[table], table)


def default_options(table: str | int) -> dict[str, Any]:
    """Every live field of an options table (by name or union tag) at its schema default.

    Vector and string fields default to None (absent).
    """
    t = TABLES[table] if isinstance(table, str) else options_table(table)
    if t is None:
        return {}
    return {f.name: f.default for f in t.live_fields}


def complete_options(tag: int, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with absent fields filled with their defaults (what the reader returns)."""
    return {**default_options(tag), **options} if tag else dict(options)


def enum_name(enum: str, value: int) -> str:
    """Name of an enum value (``enum_name("Padding", 1) == "VALID"``); ``"<value>"`` if unknown."""
    for name, v in ENUMS[enum].items():
        if v == value:
            return name
    return str(value)


def tensor_nbytes(shape: tuple[int, ...] | list[int], tensor_type: int) -> int | None:
    """Bytes a tensor's data takes (sub-byte types packed); None for unknown dims or variable-size types."""
    bits = TENSOR_TYPE_BITS.get(tensor_type)
    if bits is None or any(d < 0 for d in shape):
        return None
    n = 1
    for d in shape:
        n *= int(d)
    return (n * bits + 7) // 8

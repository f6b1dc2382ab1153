"""Every runtime kernel sits in the module of its op family (runtime/kernels/<family>.py for float and
index kernels, runtime/kernels/quantized/<family>.py for quantized ones), and the family table
(runtime/kernels/families.py) names exactly the builtins that have kernels."""

from __future__ import annotations

from keras2edge.runtime.kernels import KERNELS
from keras2edge.runtime.kernels.families import FAMILIES, FAMILY_OF, family_of

FAMILY_NAMES = {"elementwise", "activation", "conv", "dense", "pool", "reduce", "shape", "resize", "quant",
                "normalization"}  # the project's op families (normalization lowers to elementwise builtins)


def test_every_kernel_is_in_its_family_module() -> None:
    homes = {f"keras2edge.runtime.kernels.{pkg}{family_of(op)}" for op, _ in KERNELS for pkg in ("", "quantized.")}
    wrong = sorted(f"{op} on {dt}: {fn.__module__} (family {family_of(op)})" for (op, dt), fn in KERNELS.items()
                   if fn.__module__ not in homes or not fn.__module__.endswith(f".{family_of(op)}"))
    assert not wrong, "\n".join(wrong)


def test_family_table_names_exactly_the_ops_with_kernels() -> None:
    assert set(FAMILY_OF) == {op for op, _ in KERNELS}
    assert sum(len(ops) for ops in FAMILIES.values()) == len(FAMILY_OF)  # no builtin in two families
    assert set(FAMILIES) <= FAMILY_NAMES
    assert family_of("SOFTMAX") == "activation" and family_of("MEAN") == "reduce"
    assert family_of("FULLY_CONNECTED") == "dense" and family_of("QUANTIZE") == "quant"
    assert family_of("CUMSUM") is None

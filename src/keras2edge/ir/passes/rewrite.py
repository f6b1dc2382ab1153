"""Rewiring helpers shared by the passes: move every use of one value onto another, keeping names.

Graph outputs are named after Keras layers and users feed and fetch by those names, so when a
pass replaces a graph output by another value, the replacement takes the output's name.
"""

from __future__ import annotations


from ..graph import Graph
from ..value import QuantParams, Value


def same_quant(a: QuantParams | None, b: QuantParams | None) -> bool:
    """Whether two values carry the same quantization (both none, or equal parameters)."""
    return a == b


def can_bypass(graph: Graph, old: Value, new: Value) -> bool:
    """Whether every use of ``old`` can move to the existing value ``new`` without renaming harm.

    Declines when ``old`` is a graph output and ``new`` cannot take its name (``new`` is a graph
    input, whose name users feed, or another graph output), when the two differ in dtype or
    shape, or when they carry different quantization (the node in between requantizes).
    """
    if old.dtype != new.dtype or tuple(old.shape) != tuple(new.shape):
        return False
    if not same_quant(old.quant, new.quant):
        return False
    if graph.is_output(old):
        return not (any(v is new for v in graph.inputs) or graph.is_output(new))
    return True


def replace_value(graph: Graph, old: Value, new: Value, take_name: bool = False) -> None:
    """Point every use of ``old`` (and graph outputs) at ``new``.

    ``new`` takes ``old``'s name when ``take_name`` is set (use it for freshly made values) or
    when ``old`` is a graph output. ``old`` is renamed out of the way first; it is about to die.
    """
    rename = take_name or graph.is_output(old)
    graph.replace_all_uses(old, new)
    if rename and new.name != old.name:
        name = old.name
        graph.rename_value(old, f"{name}/replaced")
        graph.rename_value(new, name)


def bypass_node(graph: Graph, node_output: Value, new: Value) -> bool:
    """Replace the single-output node producing ``node_output`` by the existing value ``new``.

    Returns False (and changes nothing) when :func:`can_bypass` declines.
    """
    node = node_output.producer
    if node is None or not can_bypass(graph, node_output, new):
        return False
    replace_value(graph, node_output, new)
    graph.remove_node(node)
    return True

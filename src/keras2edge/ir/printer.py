"""Text form of a graph, one node a line, for debugging and `inspect --ir`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .graph import Graph


def _attr(v: object) -> str:
    return repr(tuple(v)) if isinstance(v, list) else repr(v)


def format_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name}("]
    lines += [f"    {v!r}," for v in graph.inputs]
    lines.append(") {")
    for n in graph.nodes:
        outs = ", ".join(repr(v) for v in n.outputs)
        ins = ", ".join("None" if v is None else (f"%{v.name}" + ("<const>" if v.is_const else ""))
                        for v in n.inputs)
        attrs = ", ".join(f"{k}={_attr(v)}" for k, v in n.attrs.items())
        origin = f"  # {n.origin}" if n.origin else ""
        lines.append(f"  {outs} = {n.op}({ins}{', ' if attrs and ins else ''}{attrs}){origin}")
    lines.append("  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append("}")
    return "\n".join(lines)

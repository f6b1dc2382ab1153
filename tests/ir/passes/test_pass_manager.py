"""Pass and PassManager: ordering, fixed point, verification, and blaming the right pass."""

from __future__ import annotations

import numpy as np
import pytest

from keras2edge.errors import GraphError, PassError
from keras2edge.ir import DType, Graph
from keras2edge.ir.passes import DeadCodePass, Pass, PassManager


def tiny() -> Graph:
    g = Graph("tiny")
    x = g.add_input("x", DType.FLOAT32, (2, 3))
    g.outputs.append(g.op("Relu", [g.op("Identity", [x])]))
    return g


class CorruptShapePass(Pass):
    """Deliberately breaks an invariant without raising."""

    def run(self, graph: Graph) -> bool:
        graph.nodes[-1].output.shape = (7,)
        return True


class CrashingPass(Pass):
    def run(self, graph: Graph) -> bool:
        raise KeyError("boom")


class CountingPass(Pass):
    """Reports a change on its first ``n`` runs, recording the order it ran in."""

    def __init__(self, n: int, log: list[str], label: str) -> None:
        self.n, self.log, self.label = n, log, label

    def run(self, graph: Graph) -> bool:
        self.log.append(self.label)
        self.n -= 1
        return self.n >= 0


def test_pass_is_abstract_and_named_after_its_class() -> None:
    with pytest.raises(TypeError):
        Pass()  # type: ignore[abstract]
    assert DeadCodePass().name == "DeadCodePass"
    assert repr(CorruptShapePass()) == "CorruptShapePass()"


def test_names_the_pass_that_broke_the_graph() -> None:
    g = tiny()
    with pytest.raises(PassError, match="CorruptShapePass left graph 'tiny' inconsistent") as info:
        PassManager([DeadCodePass(), CorruptShapePass(), DeadCodePass()]).run(g)
    assert isinstance(info.value.__cause__, GraphError)
    assert "Relu" in str(info.value)


def test_wraps_unexpected_exceptions_naming_the_pass() -> None:
    with pytest.raises(PassError, match="pass CrashingPass failed on graph 'tiny': KeyError") as info:
        PassManager([CrashingPass()]).run(tiny())
    assert isinstance(info.value.__cause__, KeyError)


def test_without_verify_a_broken_graph_goes_unnoticed() -> None:
    g = tiny()
    assert PassManager([CorruptShapePass()], verify=False).run(g) is True
    with pytest.raises(GraphError):
        g.verify()


def test_invalid_input_graph_is_not_blamed_on_a_pass() -> None:
    g = tiny()
    g.nodes.reverse()
    with pytest.raises(GraphError):
        PassManager([DeadCodePass()]).run(g)


def test_runs_in_order_once_by_default() -> None:
    log: list[str] = []
    changed = PassManager([CountingPass(5, log, "a"), CountingPass(5, log, "b")]).run(tiny())
    assert changed is True and log == ["a", "b"]


def test_runs_to_a_fixed_point() -> None:
    log: list[str] = []
    pm = PassManager([CountingPass(2, log, "a"), CountingPass(0, log, "b")], max_iterations=10)
    assert pm.run(tiny()) is True
    assert log == ["a", "b"] * 3  # two changing sweeps, then one that changes nothing


def test_stops_at_max_iterations() -> None:
    log: list[str] = []
    assert PassManager([CountingPass(100, log, "a")], max_iterations=4).run(tiny()) is True
    assert log == ["a"] * 4


def test_reports_no_change() -> None:
    g = tiny()
    assert PassManager([DeadCodePass()], max_iterations=3).run(g) is False
    with pytest.raises(ValueError):
        PassManager([], max_iterations=0)


def test_passes_are_kept_as_a_tuple() -> None:
    passes = [DeadCodePass()]
    pm = PassManager(passes)
    passes.append(CrashingPass())
    assert pm.passes == (passes[0],)
    assert np.all([isinstance(p, Pass) for p in pm.passes])

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervision.spec import ChildSpec, SpecError, SupervisorSpec


def child(child_id: str = "a", **kw: object) -> ChildSpec:
    return ChildSpec(id=child_id, start="tests.supervision.services:steady", **kw)  # type: ignore[arg-type]


def test_child_spec_defaults_and_readonly_args() -> None:
    source = {"kinds": ["agent"]}
    spec = child(args=source)
    source["kinds"] = ["changed"]
    assert spec.args["kinds"] == ["agent"]
    assert spec.restart == "permanent"
    with pytest.raises(TypeError):
        spec.args["new"] = 1  # type: ignore[index]


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"id": "Bad Id"}, "id must match"),
    ({"start": "no_colon"}, "start must be 'module:function'"),
    ({"restart": "sometimes"}, "restart must be one of"),
    ({"shutdown_s": -1}, "shutdown_s must be a number >= 0"),
    ({"args": ["x"]}, "args must be a mapping"),
])
def test_child_spec_errors_name_child_and_field(fields: dict[str, object], fragment: str) -> None:
    values: dict[str, object] = {"id": "media-1", "start": "m:f", **fields}
    with pytest.raises(SpecError, match=fragment) as info:
        ChildSpec(**values)  # type: ignore[arg-type]
    assert "child" in str(info.value)


def test_supervisor_spec_rejects_duplicates_and_bad_numbers() -> None:
    with pytest.raises(SpecError, match="duplicate child id 'a'"):
        SupervisorSpec(children=(child("a"), child("a")))
    with pytest.raises(SpecError, match="strategy"):
        SupervisorSpec(children=(), strategy="all_for_none")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="intensity"):
        SupervisorSpec(children=(), intensity=-1)
    with pytest.raises(SpecError, match="backoff_max_s"):
        SupervisorSpec(children=(), backoff_initial_s=2.0, backoff_max_s=1.0)


def test_specs_pickle_round_trip() -> None:
    spec = SupervisorSpec(children=(child("a", args={"n": 1}), child("b", restart="transient")),
                          strategy="rest_for_one")
    copy = pickle.loads(pickle.dumps(spec))
    assert copy == spec
    assert copy.children[0].args == {"n": 1}
    assert spec.index("b") == 1 and spec.child("b").restart == "transient"


@given(initial=st.floats(0.0, 2.0), extra=st.floats(0.0, 10.0), n=st.integers(1, 30))
def test_backoff_doubles_until_capped(initial: float, extra: float, n: int) -> None:
    spec = SupervisorSpec(children=(), backoff_initial_s=initial, backoff_max_s=initial + extra)
    assert spec.backoff(0) == 0.0
    assert spec.backoff(1) == initial
    assert spec.backoff(n + 1) == pytest.approx(min(2 * spec.backoff(n), spec.backoff_max_s))
    assert spec.backoff(n) <= spec.backoff_max_s

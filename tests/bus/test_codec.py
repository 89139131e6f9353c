from __future__ import annotations

import dataclasses
from typing import Literal

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.codec import Catalogue, Codec
from bus.errors import DecodeError, FieldError, UnknownMessage, VersionMismatch
from bus.message import Message, as_dict, evolve, message, to_wire


@message("test.inner")
class Inner(Message):
    name: str
    weight: float = 1.0


@message("test.sample", version=2)
class Sample(Message):
    n: int
    text: str
    blob: bytes = b""
    flag: bool = False
    tags: tuple[str, ...] = ()
    skills: dict[str, int] | None = None
    inner: Inner | None = None
    mode: Literal["listen", "whisper", "barge"] = "listen"


CODEC = Codec(Catalogue([Inner, Sample]))


def test_round_trip_keeps_every_field() -> None:
    msg = Sample(
        n=3,
        text="é",
        blob=b"\x00\xff",
        flag=True,
        tags=("a", "b"),
        skills={"fr": 5},
        inner=Inner(name="x", weight=2.5),
        mode="barge",
    )
    assert CODEC.decode(CODEC.encode(msg)) == msg


@given(
    n=st.integers(min_value=-(2**63), max_value=2**64 - 1),
    text=st.text(max_size=50),
    blob=st.binary(max_size=50),
    tags=st.lists(st.text(max_size=5), max_size=5).map(tuple),
    skills=st.none() | st.dictionaries(st.text(max_size=5), st.integers(0, 10), max_size=4),
)
def test_round_trip_property(
    n: int, text: str, blob: bytes, tags: tuple[str, ...], skills: dict[str, int] | None
) -> None:
    msg = Sample(n=n, text=text, blob=blob, tags=tags, skills=skills)
    assert CODEC.decode(CODEC.encode(msg)) == msg


def test_messages_are_frozen_keyword_only() -> None:
    with pytest.raises(TypeError):
        Sample(1, "x")  # type: ignore[misc]
    msg = Sample(n=1, text="x")
    with pytest.raises(AttributeError):
        msg.n = 2  # type: ignore[misc]


def test_unknown_tag_is_typed_error() -> None:
    with pytest.raises(UnknownMessage, match="unknown message tag 'nope'"):
        CODEC.decode(msgpack.packb(["nope", 1, []]))


def test_wrong_version_is_typed_error() -> None:
    with pytest.raises(VersionMismatch, match="test.sample.*version 1"):
        CODEC.decode(msgpack.packb(["test.sample", 1, []]))


def test_bad_field_names_the_place() -> None:
    wire = ["test.sample", 2, [1, "x", b"", False, [], {"fr": "high"}, None, "listen"]]
    with pytest.raises(FieldError, match=r"test.sample.skills\['fr'\]: expected int, got str"):
        CODEC.decode(msgpack.packb(wire))


def test_literal_outside_allowed_values() -> None:
    wire = ["test.sample", 2, [1, "x", b"", False, [], None, None, "shout"]]
    with pytest.raises(FieldError, match="test.sample.mode"):
        CODEC.decode(msgpack.packb(wire))


def test_wrong_field_count() -> None:
    with pytest.raises(FieldError, match="array of 2 to 8 fields"):
        CODEC.decode(msgpack.packb(["test.sample", 2, [1]]))
    with pytest.raises(FieldError, match="array of 2 to 8 fields"):
        CODEC.decode(msgpack.packb(["test.sample", 2, [1, "x", b"", False, [], None, None,
                                                        "listen", "extra"]]))


def test_a_record_written_before_trailing_fields_were_added_decodes_with_defaults() -> None:
    # a snapshot or a peer from before ``inner`` and ``mode`` existed
    old = CODEC.decode(msgpack.packb(["test.sample", 2, [1, "x", b"", True, ["a"], None]]))
    assert old == Sample(n=1, text="x", flag=True, tags=("a",))
    assert old.inner is None and old.mode == "listen"


@given(st.binary(max_size=200))
def test_garbage_only_raises_decode_error(data: bytes) -> None:
    try:
        CODEC.decode(data)
    except DecodeError:
        pass


def test_duplicate_tag_rejected_at_start() -> None:
    @message("test.inner")
    class Other(Message):
        x: int

    with pytest.raises(TypeError, match="tag 'test.inner' used by both"):
        Catalogue([Inner, Other])


def test_json_view_round_trips() -> None:
    import json

    from bus.message import as_dict, from_dict

    msg = Sample(n=3, text="x", blob=b"\x01\x02", tags=("a",), skills={"fr": 5},
                 inner=Inner(name="i", weight=0.5), mode="whisper")
    data = json.loads(json.dumps(as_dict(msg)))
    assert from_dict(Sample, data) == msg


def _walk(v: object) -> object:
    """The generic flattening every field once went through: the reference for the
    encoders generated per class."""
    if isinstance(v, Message):
        return [_walk(getattr(v, f.name)) for f in dataclasses.fields(v)]  # type: ignore[arg-type]
    if isinstance(v, tuple):
        return [_walk(x) for x in v]
    if isinstance(v, dict):
        return {k: _walk(x) for k, x in v.items()}
    return v


@message("test.holder")
class Holder(Message):
    one: Inner
    maybe: Inner | None = None
    by_name: dict[str, Inner] = dataclasses.field(default_factory=dict)
    mixed: tuple[Inner, ...] = ()
    note: str | None = None


def test_generated_encoders_flatten_as_the_generic_walk_did() -> None:
    samples: list[Message] = [
        Sample(n=1, text="t", blob=b"\x00", tags=("a", "b"), skills={"x": 1},
               inner=Inner(name="i")),
        Holder(one=Inner(name="a"), maybe=Inner(name="b", weight=2.0),
               by_name={"k": Inner(name="c")}, mixed=(Inner(name="d"),), note="n"),
        Holder(one=Inner(name="a")),
    ]
    codec = Codec(Catalogue([Inner, Sample, Holder]))
    for msg in samples:
        assert to_wire(msg) == _walk(msg)
        assert codec.decode(codec.encode(msg)) == msg


def test_json_views_are_generated_per_class_and_hex_their_bytes() -> None:
    view = as_dict(Sample(n=1, text="t", blob=b"\x01\xff", inner=Inner(name="i")))
    assert view["blob"] == "01ff" and view["inner"] == {"name": "i", "weight": 1.0}
    assert as_dict(Holder(one=Inner(name="a"), by_name={"k": Inner(name="c")}))["by_name"] == {
        "k": {"name": "c", "weight": 1.0}}


def test_evolve_copies_with_changes_and_names_unknown_fields() -> None:
    base = Sample(n=1, text="t", tags=("a",))
    changed = evolve(base, n=2, mode="barge")
    assert (changed.n, changed.mode, changed.text, changed.tags) == (2, "barge", "t", ("a",))
    assert (base.n, base.mode) == (1, "listen")
    with pytest.raises(TypeError, match="no field.*nope, zz"):
        evolve(base, zz=1, nope=2)

"""The sharded copy-on-write maps: ``with_changes`` against a plain dict model."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.matcher import cow

keys = st.text(alphabet="abcdefgh0123", min_size=1, max_size=4)
maps = st.dictionaries(keys, st.integers(0, 99), max_size=40)
changes = st.dictionaries(keys, st.none() | st.integers(0, 99), max_size=8)


@settings(max_examples=300, deadline=None)
@given(maps, changes)
def test_with_changes_matches_a_plain_dict_and_leaves_its_input_alone(
    items: dict[str, int], change: dict[str, int | None]
) -> None:
    m = cow.sharded(items)
    before = copy.deepcopy(m)
    out = cow.with_changes(m, change)

    expected = dict(items)
    for k, v in change.items():
        if v is None:
            expected.pop(k, None)
        else:
            expected[k] = v
    assert cow.flat(out) == expected
    assert out == cow.sharded(expected)  # same shard of every key, no empty shard
    assert all(out.values())
    assert m == before  # the input state is untouched
    touched = {cow.shard_of(k) for k in change}
    for s, inner in m.items():
        if s not in touched:
            assert out[s] is inner  # untouched shards are shared, not copied
    for k in expected:
        assert cow.get(out, k) == expected[k]
    assert cow.size(out) == len(expected)


def test_no_changes_returns_the_same_map() -> None:
    m = cow.sharded({"a": 1})
    assert cow.with_changes(m, {}) is m


def test_deleting_the_last_key_of_a_shard_drops_the_shard() -> None:
    m = cow.sharded({"a": 1})
    assert cow.with_changes(m, {"a": None}) == {}
    assert cow.with_changes(m, {"zz": None}) == m  # deleting an absent key changes nothing


def test_shards_are_stable_across_processes() -> None:
    # crc32-based (never the salted hash()): a snapshot written by one process is read by another
    assert cow.shard_of("anna") == "55"
    assert cow.shard_of("c1") == "33"

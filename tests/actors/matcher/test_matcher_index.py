"""The ready and waiting indices, kept incrementally, against brute force over a plain model."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors.matcher.index import ANY, KEY_OF, OtherOrder, ReadyIndex, WaitingIndex, satisfies
from actors.matcher.messages import MAX_LEVEL, MatchAgent, MatchCall

SKILLS = "abcd"
LOGINS = [f"a{i}" for i in range(8)]
CALLS = [f"c{i}" for i in range(8)]
skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, MAX_LEVEL), max_size=3)


def in_bucket(a: MatchAgent, bucket: tuple[str, int]) -> bool:
    return bucket == ANY or a.skills.get(bucket[0]) == bucket[1]


class ReadyIndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ix = ReadyIndex()
        self.model: dict[str, MatchAgent] = {}

    @rule(login=st.sampled_from(LOGINS), skills=skill_sets, idle=st.integers(0, 5))
    def add(self, login: str, skills: dict[str, int], idle: int) -> None:
        a = MatchAgent(login=login, skills=skills, ready=True, idle_since=float(idle))
        self.ix.add(a)  # re-adding a member replaces it
        self.model[login] = a

    @rule(login=st.sampled_from(LOGINS))
    def remove(self, login: str) -> None:
        assert self.ix.remove(login) == self.model.pop(login, None)

    @rule()
    def ask_for_anyone(self) -> None:  # switches the catch-all bucket on, once
        assert self.ix.buckets_for(ANY) == ([ANY] if self.model else [])

    @rule(order=st.sampled_from(["calls", "talk", "login"]))
    def keep_sorted(self, order: OtherOrder) -> None:  # built now, kept up to date after
        self.ix.enable(order)

    @invariant()
    def agrees_with_brute_force(self) -> None:
        ix, model = self.ix, self.model
        assert ix.members == model and len(ix) == len(model)
        assert set(ix._places) == set(model)
        for bucket, keys in ix.by_idle.items():
            expected = sorted(
                (a.idle_since, a.login) for a in model.values() if in_bucket(a, bucket)
            )
            assert keys == expected, bucket
        for order, lists in ix.sorted_by.items():
            for bucket, okeys in lists.items():
                inside = [a for a in model.values() if in_bucket(a, bucket)]
                assert okeys == sorted(KEY_OF[order](a) for a in inside), (order, bucket)
            for a in model.values():  # every member is in its buckets' lists
                assert all(KEY_OF[order](a) in lists[b] for b in a.skills.items())
        for s in SKILLS:
            for lvl in range(1, MAX_LEVEL + 1):
                able = [a for a in model.values() if a.skills.get(s, 0) >= lvl]
                assert ix.size((s, lvl)) == len(able)
                buckets = ix.buckets_for((s, lvl))
                assert buckets == sorted({(s, a.skills[s]) for a in able})
                assert {a.login for a in ix.agents_in(buckets)} == {a.login for a in able}
                if able:
                    best = min(able, key=lambda a: (a.idle_since, a.login))
                    assert ix.head(buckets) == (best.idle_since, best.login)
                    merged = [key[1] for key in ix.candidates(buckets)]
                    assert merged == [a.login for a in sorted(
                        able, key=lambda a: (a.idle_since, a.login))]  # fmt: skip


TestReadyIndex = ReadyIndexMachine.TestCase
TestReadyIndex.settings = settings(max_examples=120, stateful_step_count=30, deadline=None)


class WaitingIndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ix = WaitingIndex()
        self.model: dict[str, MatchCall] = {}
        self.seq = 0

    @rule(call_id=st.sampled_from(CALLS), skills=skill_sets, prio=st.integers(0, 2),
          since=st.integers(0, 5))  # fmt: skip
    def add(self, call_id: str, skills: dict[str, int], prio: int, since: int) -> None:
        self.seq += 1
        c = MatchCall(
            call_id=call_id, queue="q", priority=prio, waiting_since=float(since), skills=skills,
            strategy="longest-idle", ring_timeout_s=20.0, ring_all_max=1, check_staffed=False,
            callback=None, seq=self.seq,
        )  # fmt: skip
        self.ix.add(c)  # re-adding (new requirements) replaces it
        self.model[call_id] = c

    @rule(call_id=st.sampled_from(CALLS))
    def remove(self, call_id: str) -> None:
        self.ix.remove(call_id)
        self.model.pop(call_id, None)

    @invariant()
    def best_call_for_every_agent_profile(self) -> None:
        assert len(self.ix) == len(self.model)
        assert all(c in self.ix for c in self.model)
        profiles = [{}, {"a": 10}, {"a": 3, "b": 7}, {"b": 10, "c": 10, "d": 10}, {"c": 1}]
        for skills in profiles:
            able = [c for c in self.model.values() if satisfies(skills, c.skills)]
            got, n = self.ix.best_for(skills, self.model.get)
            assert n == len(able)
            if able:
                assert got is min(able, key=lambda c: (-c.priority, c.waiting_since, c.seq))
            else:
                assert got is None


TestWaitingIndex = WaitingIndexMachine.TestCase
TestWaitingIndex.settings = settings(max_examples=120, stateful_step_count=30, deadline=None)

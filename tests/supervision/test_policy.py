"""The supervisor's decisions, driven without processes (sans-IO core)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supervision.policy import (
    KILL_MARGIN_S,
    RELEASE_GRACE_S,
    Effect,
    Kill,
    Release,
    RequestStop,
    Spawn,
    SupervisorCore,
    SupervisorError,
    TreeStopped,
)
from supervision.spec import ChildSpec, Restart, Strategy, SupervisorSpec


def tree(*ids: str, strategy: Strategy = "one_for_one", intensity: int = 3,
         restart: Restart = "permanent", period_s: float = 10.0) -> SupervisorSpec:
    return SupervisorSpec(
        children=tuple(ChildSpec(id=i, start="m:f", restart=restart, shutdown_s=1.0)
                       for i in ids),
        strategy=strategy, intensity=intensity, period_s=period_s,
        backoff_initial_s=0.1, backoff_max_s=1.0)


@dataclass
class World:
    """Plays the processes: remembers live incarnations and what was asked of them."""

    core: SupervisorCore
    now: float = 0.0
    live: dict[str, int] = field(default_factory=dict)
    log: list[Effect] = field(default_factory=list)

    def take(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, Spawn):
                assert effect.child_id not in self.live, "two processes for one child"
                self.live[effect.child_id] = effect.incarnation
                self.core.spawned(effect.child_id, effect.incarnation, 1000 + effect.incarnation)
        self.log.extend(effects)
        return effects

    def start(self) -> list[Effect]:
        return self.take(self.core.start(self.now))

    def ready(self, child: str) -> list[Effect]:
        return self.take(self.core.ready(child, self.live[child], self.now))

    def crash(self, child: str) -> list[Effect]:
        incarnation = self.live.pop(child)
        return self.take(self.core.exited(child, incarnation, self.now))

    def finish(self, child: str, error: str | None = None) -> list[Effect]:
        effects = self.take(self.core.finished(child, self.live[child], error, self.now))
        # The process exits once released; return what that exit causes.
        assert effects == [Release(child_id=child, incarnation=self.live[child])]
        return self.crash(child)

    def advance(self, seconds: float) -> list[Effect]:
        self.now += seconds
        return self.take(self.core.handle_timer(self.now))

    def state(self, child: str) -> str:
        return next(c.state for c in self.core.snapshot(self.now).children if c.name == child)

    def restarts(self, child: str) -> int:
        return self.core.restarts_of(child)

    def start_all(self) -> None:
        self.start()
        for child in self.core.spec.children:
            self.ready(child.id)
        assert self.core.phase == "running"


def phase(world: World) -> str:
    # A function, not the property: type checkers would narrow it across calls.
    return world.core.phase


def spawned(effects: list[Effect]) -> list[str]:
    return [e.child_id for e in effects if isinstance(e, Spawn)]


def stop_requests(effects: list[Effect]) -> list[str]:
    return [e.child_id for e in effects if isinstance(e, RequestStop)]


def test_children_start_one_after_the_other() -> None:
    world = World(SupervisorCore(tree("a", "b", "c")))
    assert spawned(world.start()) == ["a"]
    assert phase(world) == "starting"
    assert spawned(world.ready("a")) == ["b"]
    assert spawned(world.ready("b")) == ["c"]
    assert world.ready("c") == []
    assert phase(world) == "running"
    assert [world.state(c) for c in "abc"] == ["running"] * 3


def test_one_for_one_restarts_only_the_failed_child_after_backoff() -> None:
    world = World(SupervisorCore(tree("a", "b")))
    world.start_all()
    assert world.crash("a") == []
    assert world.state("a") == "restarting" and world.state("b") == "running"
    assert world.core.next_timer() == pytest.approx(0.1)
    assert world.advance(0.05) == []
    assert spawned(world.advance(0.05)) == ["a"]
    assert world.restarts("a") == 1 and world.restarts("b") == 0
    world.ready("a")
    assert world.state("a") == "running"
    # A second failure within the period waits twice as long.
    world.crash("a")
    assert world.core.next_timer() == pytest.approx(world.now + 0.2)


def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order() -> None:
    world = World(SupervisorCore(tree("a", "b", "c", strategy="one_for_all")))
    world.start_all()
    assert stop_requests(world.crash("b")) == ["c"]
    assert stop_requests(world.finish("c")) == ["a"]
    assert world.finish("a") == []  # now the backoff delay
    assert [world.state(c) for c in "abc"] == ["restarting"] * 3
    assert spawned(world.advance(0.1)) == ["a"]
    assert spawned(world.ready("a")) == ["b"]
    assert spawned(world.ready("b")) == ["c"]
    world.ready("c")
    assert [world.restarts(c) for c in "abc"] == [1, 1, 1]


def test_rest_for_one_restarts_the_failed_child_and_those_after_it() -> None:
    world = World(SupervisorCore(tree("a", "b", "c", strategy="rest_for_one")))
    world.start_all()
    assert stop_requests(world.crash("b")) == ["c"]
    assert world.finish("c") == []
    assert world.state("a") == "running"
    assert spawned(world.advance(0.1)) == ["b"]
    assert spawned(world.ready("b")) == ["c"]
    world.ready("c")
    assert [world.restarts(c) for c in "abc"] == [0, 1, 1]


def test_exceeding_intensity_stops_everything_and_reports_the_failure() -> None:
    world = World(SupervisorCore(tree("a", "b", intensity=2)))
    world.start_all()
    for _ in range(2):
        world.crash("b")
        world.advance(1.0)
        world.ready("b")
    effects = world.crash("b")  # third restart within 10 s: give up
    assert stop_requests(effects) == ["a"]
    assert phase(world) == "stopping"
    done = world.finish("a")
    assert len(done) == 1 and isinstance(done[0], TreeStopped)
    assert done[0].failure is not None and "b failed (process exited" in done[0].failure
    assert "intensity of 2" in done[0].failure
    assert phase(world) == "failed" and world.state("b") == "failed"
    assert world.advance(5.0) == []  # nothing restarts after giving up


def test_failures_spread_over_more_than_the_period_do_not_escalate() -> None:
    world = World(SupervisorCore(tree("a", intensity=1, period_s=2.0)))
    world.start_all()
    for _ in range(5):
        world.crash("a")
        assert spawned(world.advance(2.5)) == ["a"]
        world.ready("a")
    assert phase(world) == "running" and world.restarts("a") == 5


@pytest.mark.parametrize(("restart", "error", "restarted", "state"), [
    ("permanent", None, True, "starting"),
    ("transient", None, False, "stopped"),
    ("transient", "boom", True, "starting"),
    ("temporary", "boom", False, "failed"),
    ("temporary", None, False, "stopped"),
])
def test_restart_types(restart: Restart, error: str | None, restarted: bool, state: str) -> None:
    world = World(SupervisorCore(tree("a", restart=restart)))
    world.start_all()
    world.finish("a", error)
    assert bool(spawned(world.advance(1.0))) is restarted
    assert world.state("a") == state


def test_a_killed_process_is_an_abnormal_exit() -> None:
    world = World(SupervisorCore(tree("a", restart="transient")))
    world.start_all()
    world.crash("a")
    assert spawned(world.advance(1.0)) == ["a"]
    status = world.core.snapshot(world.now).children[0]
    assert status.last_error is not None and "killed" in status.last_error


def test_stop_drains_in_reverse_order_and_kills_laggards() -> None:
    world = World(SupervisorCore(tree("a", "b")))
    world.start_all()
    assert stop_requests(world.take(world.core.stop(world.now))) == ["b"]
    assert world.core.next_timer() == pytest.approx(world.now + 1.0 + KILL_MARGIN_S)
    kill = world.advance(1.0 + KILL_MARGIN_S)
    assert kill == [Kill(child_id="b", incarnation=1, pid=1001)]
    assert stop_requests(world.crash("b")) == ["a"]
    done = world.finish("a")
    assert done == [TreeStopped(failure=None)]
    assert phase(world) == "stopped"
    assert world.take(world.core.stop(world.now)) == [TreeStopped(failure=None)]


def test_a_finished_service_that_does_not_exit_is_killed() -> None:
    world = World(SupervisorCore(tree("a")))
    world.start_all()
    world.take(world.core.finished("a", 1, None, world.now))
    assert world.advance(RELEASE_GRACE_S) == [Kill(child_id="a", incarnation=1, pid=1001)]


def test_news_from_an_old_incarnation_is_ignored() -> None:
    world = World(SupervisorCore(tree("a")))
    world.start_all()
    world.crash("a")
    world.advance(0.1)
    assert world.core.exited("a", 1, world.now) == []
    assert world.core.ready("a", 1, world.now) == []
    world.core.stats("a", 1, {"old": True})
    assert world.state("a") == "starting"
    assert world.core.snapshot(world.now).children[0].stats == {}


def test_operator_restart_is_not_counted_toward_intensity() -> None:
    world = World(SupervisorCore(tree("a", "b", intensity=0)))
    world.start_all()
    for _ in range(3):
        assert stop_requests(world.take(world.core.restart("a", world.now))) == ["a"]
        assert spawned(world.finish("a")) == ["a"]
        world.ready("a")
    assert phase(world) == "running" and world.restarts("a") == 3
    with pytest.raises(SupervisorError, match="no child named 'zz'"):
        world.core.restart("zz", world.now)


def test_a_child_failing_before_ready_is_retried_before_the_next_starts() -> None:
    world = World(SupervisorCore(tree("a", "b")))
    world.start()
    assert world.crash("a") == []
    assert spawned(world.advance(0.1)) == ["a"]
    assert spawned(world.ready("a")) == ["b"]


def test_stats_and_pids_reach_the_snapshot() -> None:
    world = World(SupervisorCore(tree("a")))
    world.start_all()
    world.core.stats("a", 1, {"mailbox_depth": 3})
    world.advance(2.0)
    status = world.core.snapshot(world.now).children[0]
    assert status.stats == {"mailbox_depth": 3}
    assert status.pid == 1001 and status.uptime_s == pytest.approx(2.0)


# -- random histories ----------------------------------------------------------------------

ACTIONS = st.lists(st.tuples(st.sampled_from(["ready", "crash", "finish", "fail", "advance",
                                               "restart"]),
                             st.integers(0, 2), st.floats(0.0, 3.0)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
       restart=st.sampled_from(["permanent", "transient", "temporary"]), actions=ACTIONS)
def test_any_history_ends_with_a_clean_stop(strategy: Strategy, restart: Restart,
                                            actions: list[tuple[str, int, float]]) -> None:
    ids = ("a", "b", "c")
    world = World(SupervisorCore(tree(*ids, strategy=strategy, restart=restart, intensity=4)))
    world.start()
    for action, index, seconds in actions:
        child = ids[index]
        if phase(world) in ("stopped", "failed"):
            break
        if action == "advance":
            world.advance(seconds)
        elif action == "restart" and phase(world) in ("starting", "running"):
            world.take(world.core.restart(child, world.now))
        elif child in world.live:
            if action == "ready":
                world.ready(child)
            elif action == "crash":
                world.crash(child)
            elif action in ("finish", "fail"):
                world.finish(child, "boom" if action == "fail" else None)
    world.take(world.core.stop(world.now))
    for _ in range(50):  # the processes do what they are asked; time passes
        asked = [e.child_id for e in world.log
                 if isinstance(e, RequestStop | Kill) and e.child_id in world.live
                 and e.incarnation == world.live[e.child_id]]
        for child in asked:
            if child in world.live:
                world.finish(child)
        world.advance(1.0)
        if phase(world) in ("stopped", "failed"):
            break
    stops = [e for e in world.log if isinstance(e, TreeStopped)]
    assert len(stops) == 1
    assert phase(world) == ("failed" if stops[0].failure else "stopped")
    assert world.live == {}
    assert all(c.state in ("stopped", "failed") for c in world.core.snapshot(world.now).children)
    assert world.core.next_timer() is None
    # Incarnations only grow, one process at a time per child (checked in World.take).
    for child in ids:
        incarnations = [e.incarnation for e in world.log
                        if isinstance(e, Spawn) and e.child_id == child]
        assert incarnations == sorted(set(incarnations))

"""The actor host: thousands of light entity actors in one process, on one asyncio loop.

Each actor is a :class:`Cell`: an address, a behaviour, one immutable state record, a mailbox
(a deque) and its timers. The host runs cells that have mail from a run queue, calls the pure
``decide`` and performs the effects. Delivery is location-transparent: an address served here
goes straight into a mailbox (no encoding, no copy); any other goes to :class:`Outbound`
(ZeroMQ to the host that owns it, see ``bus.transport``).

Failure handling follows OTP: an actor whose ``decide`` raises is restarted from its last
persisted state (states are frozen records, so the last good state *is* what was persisted)
and the message is delivered once more; a message that crashes it twice goes to the dead-letter
log with its traceback and the sender gets ``actor.crashed``. More than ``intensity`` restarts
within ``period_s`` stops the actor: its mail is dead-lettered and it is reactivated from its
snapshot by the next message. Other actors never notice.

With a :class:`actors.durable_timers.TimerSnapshotStore`, pending timers are saved with the
snapshot (a timer that fired counts as pending until its message has been decided on), so a
restarted host re-arms them: see :mod:`actors.durable_timers`.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from actors.behaviour import Behaviour, kind_of
from actors.cell import (
    Cell,
    DeadLetterSink,
    DirtyCells,
    Item,
    JournalSink,
    Outbound,
    Publisher,
    SnapshotStore,
    release_outbox,
)
from actors.durable_timers import PendingTimer, Restored, TimerSnapshotStore, recover_timers
from actors.effects import (
    CancelTimer,
    Effect,
    Fail,
    Journal,
    Publish,
    Reply,
    Send,
    StartTimer,
    Stop,
)
from actors.placement import Placement
from actors.timers import TimerWheel
from bus.envelope import ASK, ERROR, REPLY, TELL, Envelope
from bus.errors import AskTimeout, NoRoute, RemoteError
from bus.message import Message
from bus.system import ErrorReply, Pong


def _expire(fut: asyncio.Future[Message]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


#: how many stopped actors a host remembers, so that a late message starts them empty
#: rather than from a snapshot whose deletion is not written yet
STOPPED_REMEMBERED = 50_000

class Host:
    def __init__(
        self,
        *,
        host_id: str,
        behaviours: Sequence[Behaviour[Any]],
        placement: Placement,
        clock: Callable[[], float],
        outbound: Outbound | None = None,
        journal: JournalSink | None = None,
        snapshots: SnapshotStore | None = None,
        publisher: Publisher | None = None,
        dead_letters: DeadLetterSink | None = None,
        intensity: int = 3,
        period_s: float = 5.0,
        batch: int = 64,
        wall_clock: Callable[[], float] = time.time,
        recovery_batch: int = 256,
    ) -> None:
        self.host_id = host_id
        self.address = f"host/{host_id}"
        self.behaviours: Mapping[str, Behaviour[Any]] = {b.kind: b for b in behaviours}
        self.placement = placement
        self.clock = clock
        self.outbound = outbound
        self.journal = journal
        self.snapshots = snapshots
        #: the store again when it keeps timers with snapshots (else timers live in memory)
        self.durable = snapshots if isinstance(snapshots, TimerSnapshotStore) else None
        self.wall_clock = wall_clock
        self.recovery_batch = recovery_batch
        self.publisher = publisher
        self.dead_letters = dead_letters or (lambda record: None)
        self.intensity = intensity
        self.period_s = period_s
        self.batch = batch
        self.cells: dict[str, Cell] = {}
        #: I/O adapters addressed like actors (``sip/telephony``, ``media/1``): effects reach
        #: sockets, files and workers as messages, so behaviours stay pure (Erlang's ports).
        self.ports: dict[str, Callable[[Envelope], None]] = {}
        self.timers = TimerWheel()
        #: actors stopped lately (address -> journal sequence): they restart empty
        self._stopped: OrderedDict[str, int] = OrderedDict()
        self._dirty = DirtyCells()
        self.processed = 0
        self.crashes = 0
        self._runq: deque[Cell] = deque()
        self._drain_scheduled = False
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._corr = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer_handle: asyncio.Handle | None = None
        self._timer_due = float("inf")
        self._recovery: asyncio.Task[int] | None = None
        # addresses activated while recovery runs: recovery must not revive them again
        self._touched: set[str] | None = None
        self.recovered_actors = 0

    def start(self) -> None:
        """Call once on the running loop: reactivate this host's actors that have timers
        pending in their snapshots (in the background, page by page)."""
        if self.durable is not None and self._recovery is None:
            self._touched = set()
            self._recovery = asyncio.get_running_loop().create_task(
                recover_timers(self, self.durable, batch=self.recovery_batch))

    @property
    def recovery(self) -> asyncio.Task[int] | None:
        """The timer recovery started by :meth:`start` (tests await it)."""
        return self._recovery

    def close(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()

    # ----------------------------------------------------------------- delivery

    def tell(self, to: str, msg: Message, sender: str = "") -> None:
        cell = self.cells.get(to)
        if cell is None:
            self.deliver(Envelope(TELL, to, msg, sender, 0))
            return
        # Fast path: a live local actor (cells only ever holds local ones) - no envelope.
        cell.mailbox.append((msg, sender, 0, TELL))
        if not cell.queued and not cell.loading:
            cell.queued = True
            self._runq.append(cell)
            if not self._drain_scheduled:
                self._schedule_drain()

    async def ask(self, to: str, msg: Message, timeout: float = 2.0) -> Message:
        self._corr += 1
        corr = self._corr
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message] = loop.create_future()
        self._pending[corr] = fut
        # A timer handle rather than asyncio.wait_for: wait_for wraps the future in a task,
        # which costs more than the whole local round trip.
        expiry = loop.call_later(timeout, _expire, fut)
        try:
            self.deliver(Envelope(ASK, to, msg, self.address, corr))
            reply = await fut
        except TimeoutError:
            raise AskTimeout(f"no answer from {to} to {msg.TAG} within {timeout} s") from None
        finally:
            expiry.cancel()
            self._pending.pop(corr, None)
        if isinstance(reply, ErrorReply):
            raise RemoteError(reply.code, reply.text)
        return reply

    def add_port(self, address: str, handler: Callable[[Envelope], None]) -> None:
        """Serve ``address`` - or every address of a kind, given just ``kind`` - with
        ``handler`` (called with each envelope, on the loop).

        The address's kind must be placed on this host; a handler answers asks by calling
        :meth:`deliver` with a REPLY/ERROR envelope to ``env.reply_to``."""
        self.ports[address] = handler

    def reply(self, env: Envelope, msg: Message) -> None:
        """Answer ``env`` (an ask) with ``msg``; ignored for a tell. For ports."""
        if env.reply_to and env.kind == ASK:
            kind = ERROR if isinstance(msg, ErrorReply) else REPLY
            self.deliver(Envelope(kind, env.reply_to, msg, "", env.corr))

    def deliver(self, env: Envelope) -> None:
        """Route one envelope: to a local mailbox, a pending ask, or another host."""
        to = env.to
        if to == self.address:
            if env.kind == ASK:
                # The host's own inbox answers pings: proof that this process serves.
                pong = Pong(payload=getattr(env.msg, "payload", 0), host=self.host_id)
                self.deliver(Envelope(REPLY, env.reply_to, pong, "", env.corr))
                return
            fut = self._pending.get(env.corr)
            if fut is not None and not fut.done():
                fut.set_result(env.msg)
            return
        cell = self.cells.get(to)
        if cell is None:
            try:
                owner = self.placement.host_of(to)
            except (NoRoute, ValueError) as exc:
                self._undeliverable(env, "bus.no_route", str(exc))
                return
            if owner != self.host_id:
                if self.outbound is None:
                    self._undeliverable(env, "bus.no_route", f"no transport to host {owner}")
                else:
                    self.outbound.send(owner, env)
                return
            port = self.ports.get(to) or self.ports.get(to.partition("/")[0])
            if port is not None:
                port(env)
                return
            cell = self._activate(to)
            if cell is None:
                self._undeliverable(env, "actor.unknown_kind", f"no behaviour serves {to!r}")
                return
        msg = env.msg
        if env.kind == ERROR and not isinstance(msg, ErrorReply):
            msg = ErrorReply(code="bus.error", text=repr(msg))
        cell.mailbox.append((msg, env.reply_to, env.corr, env.kind))
        if not cell.queued and not cell.loading:
            cell.queued = True
            self._runq.append(cell)
            self._schedule_drain()

    def _undeliverable(self, env: Envelope, code: str, text: str) -> None:
        if env.kind == ASK and env.reply_to:
            self.deliver(
                Envelope(ERROR, env.reply_to, ErrorReply(code=code, text=text), "", env.corr)
            )
        elif env.kind == TELL:
            self.dead_letters({"reason": code, "text": text, "to": env.to, "tag": env.msg.TAG})

    def _activate(self, address: str) -> Cell | None:
        try:
            behaviour = self.behaviours.get(kind_of(address))
        except ValueError:
            return None
        if behaviour is None:
            return None
        cell = Cell(address, behaviour)
        self.cells[address] = cell
        if self._touched is not None:
            self._touched.add(address)
        stopped_at = self._stopped.pop(address, None)
        if self.snapshots is None or stopped_at is not None:
            cell.state = behaviour.initial(address)  # new, or stopped here: nothing to load
            cell.seq = stopped_at or 0
        else:
            cell.loading = True
            asyncio.get_running_loop().create_task(self._load(cell))
        return cell

    async def _load(self, cell: Cell) -> None:
        try:
            restored = await self._read_snapshot(cell.address)
        except Exception as exc:  # a store hiccup must not lose the mail: start fresh, say so
            self.dead_letters(
                {"reason": "snapshot.load_failed", "to": cell.address, "text": repr(exc)}
            )
            restored = None
        cell.loading = False
        self._revive(cell, restored)

    async def _read_snapshot(self, address: str) -> Restored | None:
        if self.durable is not None:
            return await self.durable.restore(address)
        assert self.snapshots is not None
        found = await self.snapshots.load(address)
        if found is None:
            return None
        return Restored(address=address, state=found[0], actor_seq=found[1])

    def _revive(self, cell: Cell, restored: Restored | None) -> None:
        """Give ``cell`` its persisted state and re-arm its timers; overdue ones are
        delivered at once, in deadline order, ahead of mail that came in meanwhile (they
        were due before it)."""
        state = None
        if restored is not None:
            state, cell.seq = restored.state, restored.actor_seq
        cell.state = state if state is not None else cell.behaviour.initial(cell.address)
        if restored is not None and restored.timers:
            now = self.clock()
            offset = self.wall_clock() - now
            overdue: list[Item] = []
            ordered = sorted(restored.timers, key=lambda t: t.deadline)
            # A key saved twice: the earlier one had fired (its message was waiting), the
            # later one was armed again - both must arrive, so only the later one is armed.
            armed = {t.key: t for t in ordered}
            for t in ordered:
                at = t.deadline - offset
                if at <= now or armed[t.key] is not t:
                    item: Item = (t.msg, cell.address, 0, TELL)
                    overdue.append(item)
                    cell.fired.append((t.key, at, item))
                else:
                    self.timers.start(cell.address, t.key, at, t.msg)
            cell.mailbox.extendleft(reversed(overdue))
            self._arm_timer()
        if cell.mailbox and not cell.queued:
            cell.queued = True
            self._runq.append(cell)
            self._schedule_drain()

    def adopt(self, restored: Restored) -> bool:
        """Activate a recovered actor with its timers, unless this host does not own it or
        it came to life since its snapshot was read (a message reactivated it)."""
        address = restored.address
        if address in self.cells or (self._touched is not None and address in self._touched):
            return False
        try:
            behaviour = self.behaviours.get(kind_of(address))
            owner = self.placement.host_of(address)
        except (NoRoute, ValueError):
            return False
        if behaviour is None or owner != self.host_id:
            return False
        cell = Cell(address, behaviour)
        self.cells[address] = cell
        self._revive(cell, restored)
        return True

    def recovered(self, count: int) -> None:
        """Timer recovery is over (called by :func:`actors.durable_timers.recover_timers`)."""
        self._touched = None
        self.recovered_actors += count

    # ----------------------------------------------------------------- running

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.call_soon(self.drain)

    def drain(self, budget: int = 20_000) -> int:
        """Run queued actors until the run queue is empty or ``budget`` messages are done."""
        self._drain_scheduled = False
        now = self.clock()
        done = 0
        runq = self._runq
        while runq and done < budget:
            cell = runq.popleft()
            n = 0
            mailbox = cell.mailbox
            while mailbox and n < self.batch and cell.state is not None:
                item = mailbox.popleft()
                try:
                    self._process(cell, item, now)
                except Exception as exc:
                    # A fault of the host itself (not of decide): record it and keep serving
                    # every other actor rather than stall the whole run queue.
                    self.crashes += 1
                    trace = "".join(traceback.format_exception(exc))
                    self.dead_letters({"reason": "host.error", "to": cell.address,
                                       "tag": item[0].TAG, "traceback": trace})
                if cell.fired:
                    self._consumed(cell, item)
                n += 1
            done += n
            if mailbox and self.cells.get(cell.address) is cell and not cell.loading:
                runq.append(cell)
            else:
                cell.queued = False
        self.processed += done
        if runq:
            self._schedule_drain()
        return done

    def _consumed(self, cell: Cell, item: Item) -> None:
        """A fired timer's message has been decided on: the next snapshot drops the timer."""
        if cell.retrying is item:
            return  # it crashed once and runs again: still pending
        fired = cell.fired
        for i, entry in enumerate(fired):
            if entry[2] is item:
                del fired[i]
                self._dirty.mark(cell)
                return

    def _process(self, cell: Cell, item: Item, now: float) -> None:
        msg, reply_to, corr, kind = item
        try:
            state, effects = cell.behaviour.decide(cell.state, msg, now)
        except Exception as exc:
            self._crashed(cell, item, exc, now)
            return
        if cell.retrying is item:
            cell.retrying = None
        if state is not cell.state:
            cell.state = state
            if self.snapshots is not None and not cell.dirty:
                self._dirty.mark(cell)
        if effects:
            self._perform(cell, effects, reply_to, corr if kind == ASK else 0, now)

    def _perform(
        self, cell: Cell, effects: Sequence[Effect], reply_to: str, corr: int, now: float
    ) -> None:
        out: list[Envelope] = []
        acks: list[asyncio.Future[Any]] = []
        for e in effects:
            t = type(e)
            if t is Send:
                out.append(Envelope(TELL, e.to, e.msg, cell.address, 0))  # type: ignore[union-attr]
            elif t is Reply:
                if reply_to:
                    out.append(Envelope(REPLY, reply_to, e.msg, "", corr))  # type: ignore[union-attr]
            elif t is Fail:
                if reply_to:
                    err = ErrorReply(code=e.code, text=e.text)  # type: ignore[union-attr]
                    out.append(Envelope(ERROR, reply_to, err, "", corr))
            elif t is StartTimer:
                self.timers.start(cell.address, e.key, now + e.after_s, e.msg)  # type: ignore[union-attr]
                self._arm_timer()
                if self.durable is not None:
                    self._dirty.mark(cell)
            elif t is CancelTimer:
                self.timers.cancel(cell.address, e.key)  # type: ignore[union-attr]
                if self.durable is not None:
                    self._dirty.mark(cell)
            elif t is Journal:
                if self.journal is not None:
                    cell.seq += 1
                    ack = self.journal.append(cell.address, cell.seq, e.event)  # type: ignore[union-attr]
                    acks.append(asyncio.ensure_future(ack))
            elif t is Publish:
                if self.publisher is not None:
                    self.publisher.publish(e.topic, e.msg)  # type: ignore[union-attr]
            elif t is Stop:
                self._stop(cell)
        if acks or cell.outbox:
            cell.outbox.append((acks, out))
            if len(cell.outbox) == 1:
                release_outbox(cell, self.deliver, self.dead_letters)
            return
        for env in out:
            self.deliver(env)

    def _stop(self, cell: Cell) -> None:
        self.cells.pop(cell.address, None)
        self.timers.cancel_all(cell.address)
        cell.fired.clear()
        if self.snapshots is not None:
            self.snapshots.delete(cell.address, cell.seq)
            # The delete is written behind: a message arriving before it commits must not
            # revive the actor from its last snapshot (a call that ended, ringing an agent).
            self._stopped[cell.address] = cell.seq
            self._stopped.move_to_end(cell.address)
            if len(self._stopped) > STOPPED_REMEMBERED:
                self._stopped.popitem(last=False)
        self._dirty.discard(cell)

    def _crashed(self, cell: Cell, item: Item, exc: Exception, now: float) -> None:
        self.crashes += 1
        msg, _reply_to, _corr, _kind = item
        trace = "".join(traceback.format_exception(exc))
        restarts = cell.restarts
        restarts.append(now)
        while restarts and now - restarts[0] > self.period_s:
            restarts.popleft()
        record = {"to": cell.address, "tag": msg.TAG, "msg": repr(msg), "traceback": trace}
        if len(restarts) > self.intensity:
            # Too many restarts: stop the actor; its mail is dead-lettered, senders told.
            self.dead_letters({**record, "reason": "actor.intensity"})
            self._answer_error(item, "actor.failed", f"{cell.address} restarted too often: {exc!r}")
            while cell.mailbox:
                rest = cell.mailbox.popleft()
                self.dead_letters(
                    {"to": cell.address, "tag": rest[0].TAG, "reason": "actor.intensity"}
                )
                self._answer_error(
                    rest, "actor.failed", f"{cell.address} stopped after repeated crashes"
                )
            self.cells.pop(cell.address, None)
            self.timers.cancel_all(cell.address)
            return
        if cell.retrying is item:
            cell.retrying = None
            self.dead_letters({**record, "reason": "actor.poison"})
            self._answer_error(
                item, "actor.crashed", f"{cell.address} crashed twice on {msg.TAG}: {exc!r}"
            )
            return
        # Restart from the last persisted state (unchanged: decide is pure) and retry once.
        cell.retrying = item
        cell.mailbox.appendleft(item)

    def _answer_error(self, item: Item, code: str, text: str) -> None:
        _msg, reply_to, corr, kind = item
        if reply_to:
            self.deliver(
                Envelope(
                    ERROR,
                    reply_to,
                    ErrorReply(code=code, text=text),
                    "",
                    corr if kind == ASK else 0,
                )
            )

    # ----------------------------------------------------------------- timers

    def _arm_timer(self) -> None:
        due = self.timers.next_deadline()
        if due is None:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        if self._timer_handle is not None:
            # Our own record of the armed deadline: uvloop returns a plain Handle (no when())
            # for a zero delay.
            if self._timer_due <= due:
                return
            self._timer_handle.cancel()
        self._timer_due = due
        self._timer_handle = loop.call_later(max(0.0, due - self.clock()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer_handle = None
        self._timer_due = float("inf")
        self.fire_timers(self.clock())
        self._arm_timer()

    def fire_timers(self, now: float) -> int:
        """Deliver every timer due at ``now`` (tests with a fake clock call this directly)."""
        fired = 0
        durable = self.durable is not None
        for address, key, deadline, msg in self.timers.pop_due_timers(now):
            fired += 1
            cell = self.cells.get(address)
            if cell is None:
                self.deliver(Envelope(TELL, address, msg, address, 0))
                continue
            item: Item = (msg, address, 0, TELL)
            if durable:
                cell.fired.append((key, deadline, item))
            cell.mailbox.append(item)
            if not cell.queued and not cell.loading:
                cell.queued = True
                self._runq.append(cell)
                self._schedule_drain()
        return fired

    # ----------------------------------------------------------------- persistence & stats

    def flush_snapshots(self) -> int:
        """Save every changed state; the service calls this every few tens of ms."""
        if self.snapshots is None:
            return 0
        durable = self.durable
        offset = self.wall_clock() - self.clock()
        n = 0
        for cell in self._dirty.take(self.cells):
            assert cell.state is not None
            if durable is None:
                self.snapshots.save(cell.address, cell.state, cell.seq)
            else:
                timers = self.pending_timers(cell, offset)
                durable.save_with_timers(cell.address, cell.state, cell.seq, timers)
            cell.dirty = False
            n += 1
        return n

    def pending_timers(self, cell: Cell, offset: float) -> list[PendingTimer]:
        """What ``cell``'s snapshot must carry: its armed timers and those fired but not yet
        decided on, with deadlines moved to the wall clock by ``offset``."""
        pending = self.timers.of(cell.address)
        pending.extend((key, at, item[0]) for key, at, item in cell.fired)
        return [PendingTimer(key=key, deadline=at + offset, msg=msg) for key, at, msg in pending]

    def stats(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        depth = 0
        for cell in self.cells.values():
            k = cell.behaviour.kind
            by_kind[k] = by_kind.get(k, 0) + 1
            depth += len(cell.mailbox)
        return {
            "actors_by_kind": by_kind,
            "mailbox_depth": depth,
            "processed": self.processed,
            "crashes": self.crashes,
            "timers": len(self.timers),
            "timers_recovered": self.recovered_actors,
        }

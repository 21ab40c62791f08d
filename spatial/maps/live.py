"""Live updates: one ``LISTEN onemap_live`` connection per server, fanned out to the open sessions.

Migration 0019 makes every committed statement on a watched table (tickets,
alerts, sensors, workers; ``live_watch`` adds more) write a ``live_change`` row
and ``NOTIFY onemap_live`` with ``{seq, kind, op, n, ids}``. :class:`LiveHub`
holds the server's one listening connection (psycopg async, autocommit) on the
server's event loop and hands each subscriber a :class:`Batch`: the changes of
the last ``coalesce_s`` seconds (50 ms) merged, restricted to the kinds it
asked for. A subscriber that is still busy (its previous batch not yet
applied) gets the next ones merged into one, so a slow browser session never
queues work.

Subscribers are plain callables run on the event loop, or, with ``schedule``,
handed to it (the app passes the Bokeh document's ``add_next_tick_callback``
so the callback runs under the document lock). ``Batch.ids(kind)`` is the set
of changed primary keys, or ``None`` when the change was too large to list
(bulk import, TRUNCATE): reload that kind.

Catch-up: when the listening connection drops, the hub reconnects (1 s, then
backing off to 10 s) and replays from ``live_change`` every row since the last
notification it saw (minus a 10 s margin, duplicates skipped by ``seq``), so no
committed change is lost while the connection was down. ``live_change`` rows
older than a day are pruned every ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from spatial.settings import get_settings

log = logging.getLogger("onemap.live")

#: The NOTIFY channel of migration 0019.
CHANNEL = "onemap_live"
#: Kinds watched by migration 0019 (a later migration's ``live_watch`` adds more).
KINDS = ("ticket", "alert", "sensor", "worker")


@dataclass(frozen=True)
class Change:
    """One committed statement: ``ids`` None = too many rows to list (reload the kind)."""

    seq: int
    kind: str
    op: str
    ids: tuple[int, ...] | None
    received: float = 0.0  # time.time() when the server got it (for latency figures)

    @classmethod
    def from_payload(cls, payload: str) -> Change:
        d = json.loads(payload)
        ids = d.get("ids")
        return cls(int(d["seq"]), str(d["kind"]), str(d["op"]), None if ids is None else tuple(int(i) for i in ids),
                   time.time())


@dataclass
class Batch:
    """Changes delivered together to one subscriber."""

    changes: list[Change] = field(default_factory=list)

    @property
    def kinds(self) -> set[str]:
        return {c.kind for c in self.changes}

    def ids(self, kind: str) -> set[int] | None:
        """Changed primary keys of ``kind`` (empty: none), None = reload everything of that kind."""
        out: set[int] = set()
        for c in self.changes:
            if c.kind == kind:
                if c.ids is None:
                    return None
                out.update(c.ids)
        return out

    @property
    def last_seq(self) -> int:
        return max((c.seq for c in self.changes), default=0)

    @property
    def first_received(self) -> float:
        return min((c.received for c in self.changes), default=0.0)


class Subscription:
    """A subscriber: its kinds, its callback and the batch waiting for it."""

    def __init__(self, hub: LiveHub, kinds: Iterable[str], callback: Callable[[Batch], None],
                 schedule: Callable[[Callable[[], None]], object] | None) -> None:
        self.hub = hub
        self.kinds = frozenset(kinds)
        self.callback = callback
        self.schedule = schedule
        self.pending: Batch | None = None
        self.delivered = 0

    def offer(self, changes: list[Change]) -> None:
        mine = [c for c in changes if c.kind in self.kinds]
        if not mine:
            return
        if self.pending is not None:  # still waiting to run: merge
            self.pending.changes.extend(mine)
            return
        self.pending = Batch(mine)
        if self.schedule is None:
            self._run()
        else:
            try:
                self.schedule(self._run)
            except Exception:  # the session's document is gone
                log.debug("live subscriber gone", exc_info=True)
                self.close()

    def _run(self) -> None:
        batch, self.pending = self.pending, None
        if batch is None:
            return
        self.delivered += 1
        try:
            self.callback(batch)
        except Exception:
            log.exception("live subscriber failed")

    def close(self) -> None:
        self.hub.unsubscribe(self)


class LiveHub:
    """The server's one listener; start it with :meth:`start` on the server's event loop."""

    def __init__(self, url: str | None = None, *, coalesce_s: float = 0.05, prune_every_s: float = 600.0) -> None:
        self.url = url
        self.coalesce_s = coalesce_s
        self.prune_every_s = prune_every_s
        self.subs: set[Subscription] = set()
        self.last_seq = 0
        self.floor_seq = 0
        self.last_at: datetime | None = None
        self.seen: deque[int] = deque(maxlen=20_000)
        self._seen_set: set[int] = set()
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.received = 0
        self._task: asyncio.Task | None = None

    # ---------------------------------------------------------------- subscribers
    def subscribe(self, kinds: Iterable[str], callback: Callable[[Batch], None], *,
                  schedule: Callable[[Callable[[], None]], object] | None = None) -> Subscription:
        """Call ``callback(batch)`` for committed changes of ``kinds`` (via ``schedule`` if given)."""
        sub = Subscription(self, kinds, callback, schedule)
        self.subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subs.discard(sub)

    def dispatch(self, changes: list[Change]) -> None:
        """Hand ``changes`` to every interested subscriber (on the event loop)."""
        for sub in list(self.subs):
            sub.offer(changes)

    # ---------------------------------------------------------------- connection
    def _conninfo(self) -> str:
        url = self.url or get_settings().sqlalchemy_url()
        return url.replace("postgresql+psycopg://", "postgresql://", 1)

    def _fresh(self, c: Change) -> bool:
        if c.seq in self._seen_set:
            return False
        if len(self.seen) == self.seen.maxlen:
            self._seen_set.discard(self.seen[0])
        self.seen.append(c.seq)
        self._seen_set.add(c.seq)
        self.last_seq = max(self.last_seq, c.seq)
        return True

    async def _catch_up(self, conn: psycopg.AsyncConnection) -> list[Change]:
        if self.last_at is None:
            return []
        cur = await conn.execute(
            "SELECT seq, kind, op, ids, clock_timestamp() FROM live_change "
            "WHERE at >= %s - interval '10 seconds' AND seq > %s ORDER BY seq",
            (self.last_at, max(self.floor_seq, self.seen[0] if len(self.seen) == self.seen.maxlen else 0)))
        out = []
        now = time.time()
        for seq, kind, op, ids, at in await cur.fetchall():
            c = Change(seq, kind, op, None if ids is None else tuple(ids), now)
            if self._fresh(c):
                out.append(c)
            self.last_at = at
        return out

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._conninfo(), autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            if self.last_at is None:  # first connection: changes before it are in the sessions' first queries
                self.floor_seq = (await (await conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM live_change")).fetchone())[0]
            caught = await self._catch_up(conn)
            self.last_at = (await (await conn.execute("SELECT clock_timestamp()")).fetchone())[0]
            self.connected.set()
            if caught:
                log.info("live: caught up %d changes after reconnecting", len(caught))
                self.dispatch(caught)
            pending: list[Change] = []
            deadline = 0.0
            last_prune = time.monotonic()
            while True:
                now = time.monotonic()
                if pending and now >= deadline:  # a burst's window is over: deliver it
                    self.dispatch(pending)
                    pending = []
                if now - last_prune >= self.prune_every_s:
                    await self._prune(conn)
                    last_prune = now
                wait = max(0.0, deadline - now) if pending else self.prune_every_s
                async for n in conn.notifies(timeout=wait):
                    c = Change.from_payload(n.payload)
                    self.received += 1
                    self._fresh(c)  # notifications are never repeated: only catch-up skips seen ones
                    pending.append(c)
                    if len(pending) == 1:  # a burst starts: wait at most coalesce_s for the rest of it
                        deadline = time.monotonic() + self.coalesce_s
                        break
                    if time.monotonic() >= deadline:
                        break

    async def _prune(self, conn: psycopg.AsyncConnection) -> None:
        try:
            await conn.execute("SELECT live_prune(interval '1 day')")
            self.last_at = (await (await conn.execute("SELECT clock_timestamp()")).fetchone())[0]
        except psycopg.Error:
            log.warning("live: prune failed", exc_info=True)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with back-off and catching up after each reconnect."""
        delay = 1.0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # lost connection, database restart
                self.connected.clear()
                self.reconnects += 1
                log.warning("live: listener lost (%s); reconnecting in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                delay = 1.0

    def start(self) -> asyncio.Task:
        """Start :meth:`run` as a task of the running loop."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="onemap-live")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


_HUB: LiveHub | None = None


def hub() -> LiveHub | None:
    """The running server's hub (None outside a server: views then simply do not update live)."""
    return _HUB


@contextlib.asynccontextmanager
async def running(url: str | None = None) -> AsyncIterator[LiveHub]:
    """Run the process's hub for the duration of the block (the server's lifespan)."""
    global _HUB
    h = LiveHub(url)
    h.start()
    _HUB = h
    try:
        yield h
    finally:
        _HUB = None
        await h.stop()


def install(app) -> None:
    """Run the hub for the lifetime of the FastAPI ``app`` (wraps its lifespan)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a) -> AsyncIterator:
        async with running() as h:
            app.state.live = h
            async with inner(a) as state:
                yield state

    app.router.lifespan_context = lifespan

"""One gateway replica's request handling, without Ray: what `gateway.MLRayGateway` delegates to.

`Gateway.handle(method, path, headers, body)` answers one HTTP request per docs/serving.md: the stats path, or the
route with the longest matching prefix, a version pinned by `mlray-version` or drawn by weight, shadow copies fired
beside the real call (their answers discarded), 502 for a version that fails or times out, and the answer's
statistics recorded. `reconfigure(user_config)` swaps the routing table in place; an invalid table raises
`RoutingTableError` and the old table stays.

Versions are called through `call_version(app, body, content_type) -> awaitable (status, body bytes, media_type)`
(on Ray: the version app's `MLflowModel.invoke` through its app handle). Statistics go to a stats store, an object
with `async put(replica_id, buckets, now, window_s)` and `async collect(...)` (see gateway_stats.StatsStore): the
replica pushes its changed buckets at most every `push_interval_s` after a request, and the stats path pushes its
own and answers the sum over every replica. Without a store given, the replica's own in-process store is used.
"""
import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

from .gateway_stats import DEFAULT_SAMPLES_PER_SECOND, StatsStore, StatsWindow, render
from .routing import Route, RoutingTable, Target

logger = logging.getLogger(__name__)

VERSION_HEADER = "mlray-version"
STATS_PATH = "mlray-gateway/stats"  # after the gateway's route_prefix
DEFAULT_CALL_TIMEOUT_S = 60.0
DEFAULT_PUSH_INTERVAL_S = 1.0

CallVersion = Callable[[str, bytes, Optional[str]], Awaitable[Tuple[int, bytes, str]]]
Headers = Union[Mapping[str, str], List[Tuple[str, str]], None]


@dataclass
class GatewayResponse:
    status: int
    body: bytes
    media_type: str = "application/json"
    headers: Dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> GatewayResponse:
    return GatewayResponse(status, json.dumps(body).encode("utf-8"), "application/json", dict(headers or {}))


def is_stats_path(path: str) -> bool:
    """The gateway's own path: `<route_prefix>mlray-gateway/stats` (a trailing '/' allowed). The gateway does not
    know its route_prefix, and Ray's proxy only sends it paths under that prefix, so any path whose last two
    segments are mlray-gateway/stats is it."""
    trimmed = path[:-1] if path.endswith("/") else path
    return trimmed == "/" + STATS_PATH or trimmed.endswith("/" + STATS_PATH)


def header(headers: Headers, name: str) -> Optional[str]:
    """A header's value, matched case-insensitively, from a mapping (e.g. starlette's Headers) or (name, value) pairs."""
    if not headers:
        return None
    pairs = headers.items() if hasattr(headers, "items") else headers
    for key, value in pairs:
        if key.lower() == name:
            return value
    return None


class InProcessStatsStore:
    """The async face of a StatsStore in this process (one replica alone, or replicas of the tests)."""

    def __init__(self, store: Optional[StatsStore] = None):
        self.store = store or StatsStore()

    async def put(self, replica_id, buckets, now, window_s) -> None:
        self.store.put(replica_id, buckets, now, window_s)

    async def collect(self, replica_id, buckets, now, window_s):
        return self.store.collect(replica_id, buckets, now, window_s)


class Gateway:
    def __init__(self, call_version: CallVersion, *, stats_store=None, replica_id: Optional[str] = None,
                 rng=None, clock: Callable[[], float] = time.time, timer: Callable[[], float] = time.perf_counter,
                 call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S, push_interval_s: float = DEFAULT_PUSH_INTERVAL_S,
                 samples_per_second: int = DEFAULT_SAMPLES_PER_SECOND, stats_rng=None):
        self._call_version = call_version
        self._stats_store = stats_store or InProcessStatsStore()
        self.replica_id = replica_id or uuid.uuid4().hex
        self._rng = rng or random.Random()
        self._clock = clock  # wall clock: the stats window's seconds (shared by replicas on different nodes)
        self._timer = timer  # monotonic: latencies
        self._call_timeout_s = call_timeout_s
        self._push_interval_s = push_interval_s
        self._table = RoutingTable()
        self._window = StatsWindow(self._table.stats_window_s, samples_per_second, stats_rng)
        self._pending: Set[asyncio.Task] = set()
        self._push_task: Optional[asyncio.Task] = None

    @property
    def table(self) -> RoutingTable:
        return self._table

    @property
    def pending_shadows(self) -> int:
        return len(self._pending)

    def reconfigure(self, user_config: Optional[Mapping[str, Any]]) -> RoutingTable:
        """Validates and swaps the routing table in place; an invalid table raises and the old one stays."""
        table = RoutingTable.parse(user_config)
        self._table = table
        self._window.window_s = table.stats_window_s
        return table

    async def handle(self, method: str, path: str, headers: Headers, body: bytes) -> GatewayResponse:
        if is_stats_path(path):
            if method.upper() != "GET":
                return json_response(405, {"error_code": "BAD_REQUEST",
                                           "message": f"{path} is the gateway's statistics: use GET"},
                                     {"allow": "GET"})
            return await self.stats()
        table = self._table  # one table for the whole request, even if reconfigured meanwhile
        route = table.match(path)
        if route is None:
            return json_response(404, {"error_code": "ENDPOINT_NOT_FOUND",
                                       "message": f"No route of the MLRay gateway matches {path}",
                                       "routes": sorted(r.prefix for r in table.routes)})
        content_type = header(headers, "content-type")
        pin = (header(headers, VERSION_HEADER) or "").strip()
        if pin:
            target = route.find(pin)
            if target is None:
                return json_response(404, {
                    "error_code": "RESOURCE_DOES_NOT_EXIST",
                    "message": f"Version {pin!r} is not served on {route.prefix} (model {route.model}); "
                               f"known versions: {', '.join(route.version_names()) or 'none'}",
                    "versions": route.version_names()})
            return await self._call(route, target, body, content_type)
        target = route.choose(self._rng)
        if target is None:
            return json_response(503, {
                "error_code": "TEMPORARILY_UNAVAILABLE",
                "message": f"No version of {route.prefix} (model {route.model}) has a weight > 0; "
                           f"pin one with the {VERSION_HEADER} header",
                "versions": route.version_names()})
        for shadow in route.shadows_to_fire(self._rng):
            self._fire_shadow(route, shadow, body, content_type)
        return await self._call(route, target, body, content_type)

    async def _call(self, route: Route, target: Target, body: bytes, content_type: Optional[str]) -> GatewayResponse:
        started = self._timer()
        try:
            status, data, media_type = await asyncio.wait_for(
                self._call_version(target.app, body, content_type), self._call_timeout_s)
            response = GatewayResponse(int(status), bytes(data), media_type or "application/octet-stream")
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            response = self._bad_gateway(target, f"no answer within {self._call_timeout_s:g} s")
        except Exception as e:  # the app is gone, its replica died, it raised: the version failed, not the gateway
            response = self._bad_gateway(target, f"{type(e).__name__}: {e}")
        latency_ms = (self._timer() - started) * 1000.0
        self._window.record(self._clock(), route.prefix, route.model, target.version, target.shadow,
                            response.status, latency_ms)
        self._schedule_push()
        response.headers[VERSION_HEADER] = target.version
        return response

    @staticmethod
    def _bad_gateway(target: Target, why: str) -> GatewayResponse:
        return json_response(502, {"error_code": "BAD_GATEWAY",
                                   "message": f"Version {target.version} (app {target.app}) failed: {why}",
                                   "version": target.version})

    def _fire_shadow(self, route: Route, target: Target, body: bytes, content_type: Optional[str]) -> None:
        task = asyncio.get_running_loop().create_task(self._call(route, target, body, content_type))
        self._pending.add(task)  # a strong reference until it is done (the loop keeps only weak ones)
        task.add_done_callback(self._shadow_done)

    def _shadow_done(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("shadow call failed: %r", task.exception())

    async def drain(self) -> None:
        """Waits for every shadow call in flight (tests; a replica's shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # --- statistics ---

    async def stats(self) -> GatewayResponse:
        """The stats endpoint: this replica's fresh buckets pushed, the sum over every replica answered."""
        table = self._table
        now = self._clock()
        buckets = self._window.take_dirty(now)
        try:
            totals = await self._stats_store.collect(self.replica_id, buckets, now, table.stats_window_s)
        except Exception as e:  # partial numbers would mislead a canary decision: say so instead
            self._window.restore_dirty(buckets)
            return json_response(503, {"error_code": "TEMPORARILY_UNAVAILABLE",
                                       "message": f"The gateway's statistics store cannot be reached: "
                                                  f"{type(e).__name__}: {e}"})
        return json_response(200, render(totals, table))

    def local_buckets(self) -> List[Dict[str, Any]]:
        """This replica's window as plain data (what it would push)."""
        return self._window.export(self._clock())

    async def push_stats(self) -> bool:
        """Pushes the buckets changed since the last push; False (and kept for the next push) when it fails."""
        buckets = self._window.take_dirty(self._clock())
        if not buckets:
            return True
        try:
            await self._stats_store.put(self.replica_id, buckets, self._clock(), self._table.stats_window_s)
            return True
        except Exception as e:
            self._window.restore_dirty(buckets)
            logger.warning("pushing the gateway's statistics failed (kept for the next push): %r", e)
            return False

    def _schedule_push(self) -> None:
        if self._push_task is None or self._push_task.done():
            self._push_task = asyncio.get_running_loop().create_task(self._push_soon())

    async def _push_soon(self) -> None:
        while True:
            await asyncio.sleep(self._push_interval_s)
            await self.push_stats()
            if not self._window.has_dirty():
                return

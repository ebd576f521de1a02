"""The gateway's request statistics, without Ray: what `GET <prefix>mlray-gateway/stats` answers (docs/serving.md).

Each replica keeps a `StatsWindow`: one bucket per wall-clock second, and in it one cell per (route, version) with
its requests, errors (status >= 500) and latencies. A request counts for `window_s` whole seconds, the current one
included (1-second granularity). Memory is bounded: at most `window_s` buckets (the table caps it at 3600), and per
cell at most `samples_per_second` latencies (default 100); beyond that a cell keeps a uniform sample of its
latencies (reservoir sampling) and each kept latency stands for requests / kept of them, so counts stay exact and
percentiles stay unbiased.

Replicas push their changed buckets to one `StatsStore` (on Ray a named actor, see gateway.py); `aggregate` sums
the buckets of every replica per (route, version), with nearest-rank p50/p99 over the weighted latencies, and
`render` lays the sums over the routing table into the JSON of the stats endpoint. Buckets are plain dicts and
lists, so they cross process boundaries as they are:
    {"second": 1700000000, "cells": [{"route": "/fraud", "version": "2", "model": "fraud", "shadow": false,
                                      "requests": 3, "errors": 0, "latencies_ms": [12.0, 9.5, 40.1]}]}
"""
import math
import random
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .routing import RoutingTable

DEFAULT_SAMPLES_PER_SECOND = 100


def in_window(second: int, now: float, window_s: int) -> bool:
    """Whether a bucket still counts: the window is `window_s` whole seconds, the current one included. A bucket
    ahead of `now` (another replica's clock running a little ahead) counts."""
    return math.floor(now) - second < window_s


class _Cell:
    __slots__ = ("model", "shadow", "requests", "errors", "latencies")

    def __init__(self, model: str, shadow: bool):
        self.model, self.shadow = model, shadow
        self.requests = 0
        self.errors = 0
        self.latencies: List[float] = []


class StatsWindow:
    """One replica's sliding window. `record` is called per answered call; `take_dirty` hands out the buckets that
    changed since it was last called (what a replica pushes), `restore_dirty` puts them back when a push failed."""

    def __init__(self, window_s: int, samples_per_second: int = DEFAULT_SAMPLES_PER_SECOND, rng=None):
        if samples_per_second < 1:
            raise ValueError("samples_per_second must be at least 1")
        self.window_s = window_s
        self._cap = samples_per_second
        self._rng = rng or random.Random()
        self._buckets: Dict[int, Dict[Tuple[str, str], _Cell]] = {}
        self._dirty: Set[int] = set()

    def record(self, now: float, route: str, model: str, version: str, shadow: bool, status: int,
               latency_ms: float) -> None:
        self.prune(now)
        second = math.floor(now)
        cells = self._buckets.setdefault(second, {})
        cell = cells.get((route, version))
        if cell is None:
            cell = cells[(route, version)] = _Cell(model, shadow)
        cell.model, cell.shadow = model, shadow
        cell.requests += 1
        if status >= 500:
            cell.errors += 1
        latency_ms = max(0.0, float(latency_ms))
        if len(cell.latencies) < self._cap:
            cell.latencies.append(latency_ms)
        else:  # reservoir sampling: every latency of the second is kept with the same probability
            slot = self._rng.randrange(cell.requests)
            if slot < self._cap:
                cell.latencies[slot] = latency_ms
        self._dirty.add(second)

    def prune(self, now: float) -> None:
        for second in [s for s in self._buckets if not in_window(s, now, self.window_s)]:
            del self._buckets[second]
            self._dirty.discard(second)

    def seconds(self) -> List[int]:
        return sorted(self._buckets)

    def export(self, now: float, seconds: Optional[Iterable[int]] = None) -> List[Dict[str, Any]]:
        """The buckets in the window (only `seconds` when given) as plain data, copied."""
        self.prune(now)
        chosen = sorted(self._buckets if seconds is None else (s for s in seconds if s in self._buckets))
        return [{"second": s, "cells": [
            {"route": route, "version": version, "model": c.model, "shadow": c.shadow,
             "requests": c.requests, "errors": c.errors, "latencies_ms": list(c.latencies)}
            for (route, version), c in self._buckets[s].items()]} for s in chosen]

    def take_dirty(self, now: float) -> List[Dict[str, Any]]:
        buckets = self.export(now, self._dirty)
        self._dirty = set()
        return buckets

    def has_dirty(self) -> bool:
        return bool(self._dirty)

    def restore_dirty(self, buckets: Iterable[Dict[str, Any]]) -> None:
        self._dirty.update(b["second"] for b in buckets if b["second"] in self._buckets)


class StatsStore:
    """The buckets of every replica, newest push per (replica, second) winning; shared by all replicas (an actor
    on Ray). Buckets leave with the window, so a replica that is gone still counts until its requests age out."""

    def __init__(self):
        self._replicas: Dict[str, Dict[int, Dict[str, Any]]] = {}

    def put(self, replica_id: str, buckets: Sequence[Dict[str, Any]], now: float, window_s: int) -> None:
        mine = self._replicas.setdefault(replica_id, {})
        for bucket in buckets:
            mine[bucket["second"]] = bucket
        self._prune(now, window_s)

    def collect(self, replica_id: str, buckets: Sequence[Dict[str, Any]], now: float,
                window_s: int) -> List[Dict[str, Any]]:
        """Stores a replica's latest buckets and answers the sums over every replica (see `aggregate`)."""
        self.put(replica_id, buckets, now, window_s)
        return aggregate((b for mine in self._replicas.values() for b in mine.values()), now, window_s)

    def replica_ids(self) -> List[str]:
        return sorted(self._replicas)

    def _prune(self, now: float, window_s: int) -> None:
        for replica_id in list(self._replicas):
            mine = self._replicas[replica_id]
            for second in [s for s in mine if not in_window(s, now, window_s)]:
                del mine[second]
            if not mine:
                del self._replicas[replica_id]


def nearest_rank(weighted: Sequence[Tuple[float, float]], p: float) -> Optional[float]:
    """The nearest-rank p-th percentile of (value, weight) pairs: the smallest value whose cumulative weight reaches
    p% of the total (with weights 1, the value at rank ceil(p/100 * n)). None when there is none."""
    total = sum(w for _, w in weighted)
    if total <= 0:
        return None
    target = p * total / 100.0
    cumulative = 0.0
    ordered = sorted(weighted)
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= target - 1e-9 * total:
            return value
    return ordered[-1][0]


def aggregate(buckets: Iterable[Dict[str, Any]], now: float, window_s: int) -> List[Dict[str, Any]]:
    """Sums buckets (of any number of replicas) in the window per (route, version): requests, errors, p50_ms and
    p99_ms, with the model and shadow flag of the newest bucket. Sorted by route then version."""
    sums: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for bucket in buckets:
        second = bucket["second"]
        if not in_window(second, now, window_s):
            continue
        for cell in bucket["cells"]:
            key = (cell["route"], cell["version"])
            total = sums.get(key)
            if total is None:
                total = sums[key] = {"requests": 0, "errors": 0, "weighted": [], "second": second,
                                     "model": cell["model"], "shadow": cell["shadow"]}
            total["requests"] += cell["requests"]
            total["errors"] += cell["errors"]
            latencies = cell["latencies_ms"]
            if latencies:
                weight = cell["requests"] / len(latencies)
                total["weighted"].extend((float(v), weight) for v in latencies)
            if second >= total["second"]:
                total["second"], total["model"], total["shadow"] = second, cell["model"], cell["shadow"]
    return [{"route": route, "version": version, "model": t["model"], "shadow": t["shadow"],
             "requests": t["requests"], "errors": t["errors"],
             "p50_ms": _ms(nearest_rank(t["weighted"], 50)), "p99_ms": _ms(nearest_rank(t["weighted"], 99))}
            for (route, version), t in sorted(sums.items())]


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


def _zeros(shadow: bool) -> Dict[str, Any]:
    return {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "shadow": shadow}


def render(totals: Iterable[Dict[str, Any]], table: RoutingTable) -> Dict[str, Any]:
    """The stats endpoint's JSON: every route and version of the table (zeros when they got no request in the
    window, `shadow` as the table says), plus routes and versions no longer in the table that still have requests
    in the window (`shadow` as they were called)."""
    routes: Dict[str, Dict[str, Any]] = {}
    for route in sorted(table.routes, key=lambda r: r.prefix):
        routes[route.prefix] = {"model": route.model,
                                "versions": {t.version: _zeros(t.shadow) for t in route.targets}}
    for total in totals:
        entry = routes.setdefault(total["route"], {"model": total["model"], "versions": {}})
        version = entry["versions"].setdefault(total["version"], _zeros(total["shadow"]))
        version.update(requests=total["requests"], errors=total["errors"],
                       p50_ms=total["p50_ms"] if total["requests"] else None,
                       p99_ms=total["p99_ms"] if total["requests"] else None)
    return {"window_s": table.stats_window_s, "routes": routes}

"""The gateway's routing table (`user_config` of MLRayGateway, see docs/serving.md), without Ray.

`RoutingTable.parse(user_config)` validates the table and raises `RoutingTableError` naming the route, the field and
the bad value; `match(path)` finds a request's route (longest prefix on whole path segments); a `Route` picks the
version of an unpinned request by weight and decides which shadow copies to send, from an injectable random source
(anything with `randrange(n)` and `random()`, e.g. `random.Random(seed)`).
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

GATEWAY_APP = "mlray-gateway"
DEFAULT_STATS_WINDOW_S = 300
MAX_STATS_WINDOW_S = 3600  # bounds the stats' memory (one bucket per second of the window)


class RoutingTableError(ValueError):
    """An invalid routing table; the message names the route, field and value."""


@dataclass(frozen=True)
class VersionTarget:
    version: str
    app: str
    weight: int
    shadow = False


@dataclass(frozen=True)
class ShadowTarget:
    version: str
    app: str
    fraction: float
    shadow = True


Target = Union[VersionTarget, ShadowTarget]


@dataclass(frozen=True)
class Route:
    prefix: str
    model: str
    versions: Tuple[VersionTarget, ...]
    shadow: Tuple[ShadowTarget, ...] = ()

    @property
    def targets(self) -> Tuple[Target, ...]:
        """Every version a request may pin: `versions` then `shadow`, in table order."""
        return self.versions + self.shadow

    def version_names(self) -> List[str]:
        return [t.version for t in self.targets]

    def find(self, version: str) -> Optional[Target]:
        for target in self.targets:
            if target.version == version:
                return target
        return None

    def matches(self, path: str) -> bool:
        """Whole path segments: `/fraud` matches `/fraud`, `/fraud/` and `/fraud/x`, not `/fraudulent`."""
        return self.prefix == "/" or path == self.prefix or path.startswith(self.prefix + "/")

    def choose(self, rng) -> Optional[VersionTarget]:
        """A version drawn by weight (weights sum to 100), or None when every weight is 0 (only pins are served)."""
        total = sum(t.weight for t in self.versions)
        if total <= 0:
            return None
        draw = rng.randrange(total)
        for target in self.versions:
            if draw < target.weight:
                return target
            draw -= target.weight
        raise AssertionError("unreachable: the draw is below the total weight")

    def shadows_to_fire(self, rng) -> List[ShadowTarget]:
        """Each shadow entry on its own, with probability `fraction` (0 never, 1 always)."""
        return [s for s in self.shadow if s.fraction > 0 and rng.random() < s.fraction]


@dataclass(frozen=True)
class RoutingTable:
    stats_window_s: int = DEFAULT_STATS_WINDOW_S
    routes: Tuple[Route, ...] = ()  # longest prefix first, so the first route that matches is the longest

    def match(self, path: str) -> Optional[Route]:
        for route in self.routes:
            if route.matches(path):
                return route
        return None

    def route(self, prefix: str) -> Optional[Route]:
        for route in self.routes:
            if route.prefix == prefix:
                return route
        return None

    @property
    def apps(self) -> List[str]:
        return sorted({t.app for r in self.routes for t in r.targets})

    @staticmethod
    def parse(user_config: Optional[Mapping[str, Any]]) -> "RoutingTable":
        """Validates a routing table; None or {} is the empty table (every request is a 404)."""
        if user_config is None:
            return RoutingTable()
        if not isinstance(user_config, Mapping):
            raise RoutingTableError(f"routing table: must be a JSON object; got {_show(user_config)}")
        window = _stats_window(user_config.get("stats_window_s", DEFAULT_STATS_WINDOW_S))
        routes = user_config.get("routes", {})
        if routes is None:
            routes = {}
        if not isinstance(routes, Mapping):
            raise RoutingTableError(f"routing table: routes must be a JSON object of path: route; got {_show(routes)}")
        parsed = [_route(prefix, spec) for prefix, spec in routes.items()]
        parsed.sort(key=lambda r: len(r.prefix), reverse=True)
        return RoutingTable(window, tuple(parsed))


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a JSON object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _stats_window(value: Any) -> int:
    if not _is_whole(value) or not 1 <= value <= MAX_STATS_WINDOW_S:
        raise RoutingTableError(
            f"routing table: stats_window_s must be a whole number of seconds 1-{MAX_STATS_WINDOW_S}; got {_show(value)}")
    return int(value)


def _is_whole(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and value == value and value not in (float("inf"), float("-inf")) and value == int(value))


def _route(prefix: Any, spec: Any) -> Route:
    where = f"route {prefix!r}"
    if not isinstance(prefix, str) or not prefix.startswith("/") or (prefix != "/" and prefix.endswith("/")):
        raise RoutingTableError(f"{where}: a route must be a path starting with '/' and not ending with '/' "
                                "(other than '/' itself)")
    if not isinstance(spec, Mapping):
        raise RoutingTableError(f"{where}: must be a JSON object with model, versions and optional shadow; "
                                f"got {_show(spec)}")
    model = spec.get("model")
    if not isinstance(model, str) or not model:
        raise RoutingTableError(f"{where}: model must be a non-empty string; got {_show(model)}")
    versions_spec = spec.get("versions")
    if not isinstance(versions_spec, list):
        raise RoutingTableError(f"{where}: versions must be a list; got {_show(versions_spec)}")
    shadow_spec = spec.get("shadow")
    if shadow_spec is None:
        shadow_spec = []
    if not isinstance(shadow_spec, list):
        raise RoutingTableError(f"{where}: shadow must be a list; got {_show(shadow_spec)}")

    versions = tuple(_version(where, i, entry) for i, entry in enumerate(versions_spec))
    shadow = tuple(_shadow(where, i, entry) for i, entry in enumerate(shadow_spec))

    seen: Dict[str, str] = {}
    for field, targets in (("versions", versions), ("shadow", shadow)):
        for i, target in enumerate(targets):
            here = f"{field}[{i}]"
            if target.version in seen:
                raise RoutingTableError(f"{where}: version {target.version!r} appears twice "
                                        f"({seen[target.version]} and {here})")
            seen[target.version] = here

    weights = [t.weight for t in versions]
    if any(weights) and sum(weights) != 100:
        listed = ", ".join(f"{t.version}: {t.weight}" for t in versions)
        raise RoutingTableError(f"{where}: the weights of versions must sum to 100 (or all be 0); "
                                f"got {sum(weights)} ({listed})")
    return Route(prefix, model, versions, shadow)


def _entry(where: str, field: str, i: int, entry: Any) -> Tuple[str, str, str]:
    """An entry's version and app, and how to name the entry in an error."""
    here = f"{where} {field}[{i}]"
    if not isinstance(entry, Mapping):
        raise RoutingTableError(f"{here}: must be a JSON object with version and app; got {_show(entry)}")
    version = entry.get("version")
    if not isinstance(version, str) or not version.strip():
        raise RoutingTableError(f"{here}: version must be a non-empty string; got {_show(version)}")
    here = f"{here} (version {version!r})"
    if "app" not in entry:
        raise RoutingTableError(f"{here}: missing app")
    app = entry["app"]
    if not isinstance(app, str) or not app:
        raise RoutingTableError(f"{here}: app must be a non-empty string; got {_show(app)}")
    if app == GATEWAY_APP:
        raise RoutingTableError(f"{here}: app must not be the gateway itself ({GATEWAY_APP!r})")
    return version.strip(), app, here


def _version(where: str, i: int, entry: Any) -> VersionTarget:
    version, app, here = _entry(where, "versions", i, entry)
    weight = entry.get("weight")
    if not _is_whole(weight) or not 0 <= weight <= 100:
        raise RoutingTableError(f"{here}: weight must be a whole number 0-100; got {_show(weight)}")
    return VersionTarget(version, app, int(weight))


def _shadow(where: str, i: int, entry: Any) -> ShadowTarget:
    version, app, here = _entry(where, "shadow", i, entry)
    fraction = entry.get("fraction")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise RoutingTableError(f"{here}: fraction must be a number in [0, 1]; got {_show(fraction)}")
    return ShadowTarget(version, app, float(fraction))

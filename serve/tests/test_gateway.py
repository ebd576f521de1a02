"""The gateway without Ray (docs/serving.md): the routing table's validation, route matching, pins, weighted draws,
shadow copies, 502s, and the statistics (window, percentiles, the sum over replicas)."""
import asyncio
import copy
import json
import random

import pytest

from mlray_serve.gateway_core import Gateway, InProcessStatsStore, header, is_stats_path
from mlray_serve.gateway_stats import StatsStore, StatsWindow, aggregate, nearest_rank, render
from mlray_serve.routing import RoutingTable, RoutingTableError

TABLE = {
    "stats_window_s": 300,
    "routes": {
        "/fraud": {
            "model": "fraud",
            "versions": [{"version": "2", "app": "fraud--v2", "weight": 90},
                         {"version": "3", "app": "fraud--v3", "weight": 10}],
            "shadow": [{"version": "4", "app": "fraud--v4", "fraction": 0.25}],
        },
    },
}
JSON = {"content-type": "application/json"}


def table(**route_changes):
    """TABLE with /fraud's fields replaced."""
    t = copy.deepcopy(TABLE)
    t["routes"]["/fraud"].update(route_changes)
    return t


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class Versions:
    """Stand-in version apps: each answers (200, its name, JSON) unless told to fail, wait, or answer otherwise.
    `took_ms` per app advances the shared timer by that much during the call (the latency the gateway measures)."""

    def __init__(self, timer=None):
        self.calls = []
        self.answers = {}
        self.failures = {}
        self.gates = {}
        self.took_ms = {}
        self.timer = timer

    async def __call__(self, app, body, content_type):
        self.calls.append((app, body, content_type))
        if app in self.gates:
            await self.gates[app].wait()
        if app in self.took_ms:
            self.timer.t += self.took_ms[app] / 1000.0
        if app in self.failures:
            raise self.failures[app]
        return self.answers.get(app, (200, json.dumps({"predictions": [app]}).encode(), "application/json"))

    def apps(self):
        return [app for app, _, _ in self.calls]


def make(user_config=TABLE, seed=7, **kwargs):
    versions = kwargs.pop("versions", None) or Versions()
    gateway = Gateway(versions, rng=random.Random(seed), **kwargs)
    gateway.reconfigure(user_config)
    return gateway, versions


def run(coro):
    return asyncio.run(coro)


def post(gateway, path="/fraud", headers=JSON, body=b'{"inputs": [1]}', method="POST"):
    return run(gateway.handle(method, path, headers, body))


# --- the routing table ---

def test_the_contract_table_parses_with_routes_longest_first():
    parsed = RoutingTable.parse({"stats_window_s": 60, "routes": {
        "/": {"model": "root", "versions": [{"version": "1", "app": "root--v1", "weight": 100}]},
        "/fraud": TABLE["routes"]["/fraud"],
    }})
    assert parsed.stats_window_s == 60
    assert [r.prefix for r in parsed.routes] == ["/fraud", "/"]
    fraud = parsed.route("/fraud")
    assert [(t.version, t.app, t.weight) for t in fraud.versions] == [("2", "fraud--v2", 90), ("3", "fraud--v3", 10)]
    assert [(s.version, s.app, s.fraction) for s in fraud.shadow] == [("4", "fraud--v4", 0.25)]
    assert fraud.version_names() == ["2", "3", "4"]
    assert parsed.apps == ["fraud--v2", "fraud--v3", "fraud--v4", "root--v1"]


def test_defaults_empty_table_all_zero_weights_and_no_shadow_are_valid():
    assert RoutingTable.parse(None).routes == () and RoutingTable.parse({}).stats_window_s == 300
    zero = RoutingTable.parse({"routes": {"/m": {"model": "m", "versions": [
        {"version": "1", "app": "m--v1", "weight": 0}, {"version": "2", "app": "m--v2", "weight": 0.0}]}}})
    assert [t.weight for t in zero.route("/m").versions] == [0, 0] and zero.route("/m").shadow == ()


def _with_version(i, **changes):
    t = copy.deepcopy(TABLE)
    t["routes"]["/fraud"]["versions"][i].update(changes)
    return t


def _without(field, i=0):
    t = copy.deepcopy(TABLE)
    del t["routes"]["/fraud"]["versions"][i][field]
    return t


@pytest.mark.parametrize("bad, fragments", [
    (_with_version(1, weight=10.5), ["'/fraud'", "versions[1]", "'3'", "weight", "whole number 0-100", "10.5"]),
    (_with_version(1, weight=101), ["'/fraud'", "weight", "101"]),
    (_with_version(1, weight=-1), ["'/fraud'", "weight", "-1"]),
    (_with_version(1, weight="10"), ["'/fraud'", "weight", "'10'"]),
    (_with_version(1, weight=True), ["'/fraud'", "weight", "True"]),
    (_without("weight", 1), ["'/fraud'", "versions[1]", "weight", "None"]),
    (_with_version(1, weight=5), ["'/fraud'", "sum to 100", "got 95", "2: 90, 3: 5"]),
    (table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": 1.5}]),
     ["'/fraud'", "shadow[0]", "'4'", "fraction", "[0, 1]", "1.5"]),
    (table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": "0.1"}]), ["fraction", "'0.1'"]),
    (table(shadow=[{"version": "4", "app": "fraud--v4"}]), ["shadow[0]", "fraction", "None"]),
    (table(shadow=[{"version": "3", "app": "fraud--v3b", "fraction": 0.1}]),
     ["'/fraud'", "version '3' appears twice", "versions[1]", "shadow[0]"]),
    (_with_version(1, version="2"), ["'/fraud'", "version '2' appears twice", "versions[0] and versions[1]"]),
    (_without("app", 0), ["'/fraud'", "versions[0]", "'2'", "missing app"]),
    (_with_version(0, app=""), ["versions[0]", "app must be a non-empty string"]),
    (_with_version(0, app="mlray-gateway"), ["versions[0]", "gateway itself"]),
    (_with_version(0, version=2), ["versions[0]", "version must be a non-empty string", "2"]),
    (table(model=""), ["'/fraud'", "model"]),
    (table(versions={"2": 100}), ["'/fraud'", "versions must be a list"]),
    ({"routes": {"fraud": TABLE["routes"]["/fraud"]}}, ["'fraud'", "starting with '/'"]),
    ({"routes": {"/fraud/": TABLE["routes"]["/fraud"]}}, ["'/fraud/'", "not ending with '/'"]),
    ({"stats_window_s": 0, "routes": {}}, ["stats_window_s", "0"]),
    ({"stats_window_s": 7200, "routes": {}}, ["stats_window_s", "7200"]),
    ({"routes": []}, ["routes must be a JSON object"]),
])
def test_an_invalid_table_is_refused_naming_route_field_and_value(bad, fragments):
    with pytest.raises(RoutingTableError) as e:
        RoutingTable.parse(bad)
    for fragment in fragments:
        assert fragment in str(e.value)


# --- matching ---

def _routes(*prefixes):
    return RoutingTable.parse({"routes": {p: {"model": p, "versions": [{"version": "1", "app": "a", "weight": 100}]}
                                          for p in prefixes}})


def test_longest_prefix_on_whole_path_segments():
    t = _routes("/fraud", "/fraud/batch", "/iris")
    assert t.match("/fraud").prefix == "/fraud"
    assert t.match("/fraud/").prefix == "/fraud"
    assert t.match("/fraud/x").prefix == "/fraud"
    assert t.match("/fraud/batch").prefix == "/fraud/batch"
    assert t.match("/fraud/batch/1").prefix == "/fraud/batch"
    assert t.match("/fraud/batched").prefix == "/fraud"
    assert t.match("/fraudulent") is None
    assert t.match("/") is None
    with_root = _routes("/", "/fraud")
    assert with_root.match("/fraudulent").prefix == "/" and with_root.match("/fraud/1").prefix == "/fraud"


def test_no_matching_route_is_a_404_json_and_calls_nothing():
    gateway, versions = make()
    response = post(gateway, "/fraudulent")
    assert response.status == 404 and response.media_type == "application/json"
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND" and "/fraudulent" in response.json()["message"]
    assert response.json()["routes"] == ["/fraud"]
    assert "mlray-version" not in response.headers and versions.calls == []


# --- choosing a version ---

def test_unpinned_requests_follow_the_weights_over_10000_draws():
    gateway, versions = make(table(shadow=[]), seed=12345)

    async def scenario():
        return [await gateway.handle("POST", "/fraud", JSON, b"{}") for _ in range(10_000)]

    responses = run(scenario())
    counts = {app: versions.apps().count(app) for app in ("fraud--v2", "fraud--v3")}
    assert sum(counts.values()) == 10_000
    assert 8_850 <= counts["fraud--v2"] <= 9_150 and 850 <= counts["fraud--v3"] <= 1_150
    assert {r.headers["mlray-version"] for r in responses} == {"2", "3"}
    assert all(r.headers["mlray-version"] == json.loads(r.body)["predictions"][0][-1] for r in responses)


class EveryDraw:
    """A random source whose randrange(n) returns 0, 1, ..., n-1 in turn: a draw over every value once."""

    def __init__(self):
        self.next = 0

    def randrange(self, n):
        value, self.next = self.next % n, self.next + 1
        return value


def test_each_weight_gets_exactly_its_share_of_the_draw_values():
    route = RoutingTable.parse({"routes": {"/m": {"model": "m", "versions": [
        {"version": "0", "app": "m--v0", "weight": 0}, {"version": "1", "app": "m--v1", "weight": 70},
        {"version": "2", "app": "m--v2", "weight": 0}, {"version": "3", "app": "m--v3", "weight": 30}]}}}).route("/m")
    rng = EveryDraw()
    drawn = [route.choose(rng).version for _ in range(100)]
    assert {v: drawn.count(v) for v in "0123"} == {"0": 0, "1": 70, "2": 0, "3": 30}


def test_a_weight_0_version_is_never_drawn_but_can_be_pinned():
    config = table(versions=[{"version": "2", "app": "fraud--v2", "weight": 100},
                             {"version": "3", "app": "fraud--v3", "weight": 0}], shadow=[])
    gateway, versions = make(config)
    for _ in range(500):
        post(gateway)
    assert set(versions.apps()) == {"fraud--v2"}
    pinned = post(gateway, headers={"Content-Type": "application/json", "MLRay-Version": " 3 "})
    assert pinned.status == 200 and pinned.headers["mlray-version"] == "3"
    assert versions.apps()[-1] == "fraud--v3"


def test_a_shadow_version_can_be_pinned_and_pinned_requests_are_not_shadowed():
    gateway, versions = make(table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": 1.0}]))

    async def scenario():
        responses = [await gateway.handle("POST", "/fraud", {"mlray-version": v}, b"{}") for v in ("4", "2", "3")]
        await gateway.drain()
        return responses

    responses = run(scenario())
    assert [r.headers["mlray-version"] for r in responses] == ["4", "2", "3"]
    assert versions.apps() == ["fraud--v4", "fraud--v2", "fraud--v3"]  # no shadow copy of a pinned request


def test_an_unknown_pin_is_a_404_listing_the_routes_versions():
    gateway, versions = make()
    response = post(gateway, headers={"mlray-version": "9"})
    assert response.status == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert response.json()["versions"] == ["2", "3", "4"]
    assert "'9'" in response.json()["message"] and "/fraud" in response.json()["message"]
    assert versions.calls == []


def test_all_zero_weights_answer_503_unless_pinned():
    config = table(versions=[{"version": "2", "app": "fraud--v2", "weight": 0},
                             {"version": "3", "app": "fraud--v3", "weight": 0}],
                   shadow=[{"version": "4", "app": "fraud--v4", "fraction": 1.0}])
    gateway, versions = make(config)
    response = post(gateway)
    assert response.status == 503 and response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert response.json()["versions"] == ["2", "3", "4"] and versions.calls == []
    assert post(gateway, headers={"mlray-version": "3"}).status == 200
    assert versions.apps() == ["fraud--v3"]


def test_body_content_type_status_and_media_type_pass_unchanged():
    gateway, versions = make(table(shadow=[]))
    versions.answers["fraud--v2"] = (415, b"Unsupported content type", "text/plain")
    response = post(gateway, headers={"content-type": "text/csv", "mlray-version": "2"}, body=b"a,b\n1,2\n")
    assert versions.calls == [("fraud--v2", b"a,b\n1,2\n", "text/csv")]
    assert (response.status, response.body, response.media_type) == (415, b"Unsupported content type", "text/plain")
    assert response.headers == {"mlray-version": "2"}
    post(gateway, headers={"mlray-version": "3"}, body=b"{}")
    assert versions.calls[-1] == ("fraud--v3", b"{}", None)  # no Content-Type: none is sent


def test_header_lookup_is_case_insensitive_over_mappings_and_pairs():
    assert header({"MLRay-Version": "3"}, "mlray-version") == "3"
    assert header([("content-type", "text/csv"), ("Mlray-Version", "2")], "mlray-version") == "2"
    assert header(None, "mlray-version") is None and header({}, "content-type") is None


# --- shadow ---

def test_shadow_copies_follow_each_entrys_fraction_on_unpinned_requests():
    config = table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": 0.25},
                           {"version": "5", "app": "fraud--v5", "fraction": 0.0},
                           {"version": "6", "app": "fraud--v6", "fraction": 1}])
    gateway, versions = make(config, seed=99)

    async def scenario():
        for _ in range(4_000):
            await gateway.handle("POST", "/fraud", JSON, b"{}")
        await gateway.drain()

    run(scenario())
    apps = versions.apps()
    assert 900 <= apps.count("fraud--v4") <= 1_100
    assert apps.count("fraud--v5") == 0
    assert apps.count("fraud--v6") == 4_000
    assert apps.count("fraud--v2") + apps.count("fraud--v3") == 4_000


def test_a_shadow_copy_does_not_delay_the_answer_and_its_answer_is_discarded():
    config = table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": 1.0}])
    gateway, versions = make(config)
    versions.answers["fraud--v4"] = (500, b'{"shadow": "answer"}', "application/json")

    async def scenario():
        versions.gates["fraud--v4"] = asyncio.Event()
        response = await asyncio.wait_for(gateway.handle("POST", "/fraud", JSON, b'{"x": 1}'), timeout=2)
        still_pending = gateway.pending_shadows
        versions.gates["fraud--v4"].set()
        await gateway.drain()
        stats = (await gateway.stats()).json()
        return response, still_pending, stats

    response, still_pending, stats = run(scenario())
    assert still_pending == 1  # the real answer came back while the shadow copy was still waiting
    assert response.status == 200 and response.headers["mlray-version"] in ("2", "3")
    assert b"shadow" not in response.body
    assert ("fraud--v4", b'{"x": 1}', "application/json") in versions.calls
    shadow = stats["routes"]["/fraud"]["versions"]["4"]
    assert (shadow["requests"], shadow["errors"], shadow["shadow"]) == (1, 1, True)
    assert gateway.pending_shadows == 0


# --- failures ---

def test_a_failing_version_is_a_502_naming_the_version_and_an_error_in_the_stats():
    gateway, versions = make(table(shadow=[]))
    versions.failures["fraud--v3"] = RuntimeError("replica died")
    response = post(gateway, headers={"mlray-version": "3"})
    assert response.status == 502 and response.headers["mlray-version"] == "3"
    body = response.json()
    assert body["error_code"] == "BAD_GATEWAY" and body["version"] == "3"
    assert "Version 3 (app fraud--v3) failed" in body["message"] and "replica died" in body["message"]
    three = run(gateway.stats()).json()["routes"]["/fraud"]["versions"]["3"]
    assert (three["requests"], three["errors"]) == (1, 1)


def test_a_version_that_does_not_answer_in_time_is_a_502():
    gateway, versions = make(table(shadow=[]), call_timeout_s=0.05)
    versions.gates["fraud--v2"] = asyncio.Event()  # never set
    response = post(gateway, headers={"mlray-version": "2"})
    assert response.status == 502 and "no answer within 0.05 s" in response.json()["message"]


def test_a_version_answering_5xx_itself_is_passed_through_and_counted_as_an_error_4xx_is_not():
    gateway, versions = make(table(shadow=[]))
    versions.answers["fraud--v2"] = (503, b'{"error_code": "TEMPORARILY_UNAVAILABLE"}', "application/json")
    versions.answers["fraud--v3"] = (400, b'{"error_code": "BAD_REQUEST"}', "application/json")
    assert post(gateway, headers={"mlray-version": "2"}).status == 503
    assert post(gateway, headers={"mlray-version": "3"}).status == 400
    stats = run(gateway.stats()).json()["routes"]["/fraud"]["versions"]
    assert (stats["2"]["requests"], stats["2"]["errors"]) == (1, 1)
    assert (stats["3"]["requests"], stats["3"]["errors"]) == (1, 0)


# --- reconfigure ---

def test_reconfigure_swaps_the_table_in_place_and_an_invalid_one_keeps_the_old():
    gateway, versions = make(table(shadow=[]))
    before = gateway.table
    with pytest.raises(RoutingTableError):
        gateway.reconfigure(_with_version(1, weight=11))
    assert gateway.table is before
    assert post(gateway, headers={"mlray-version": "3"}).status == 200
    gateway.reconfigure(table(versions=[{"version": "3", "app": "fraud--v3", "weight": 100}], shadow=[]))
    assert [post(gateway).headers["mlray-version"] for _ in range(20)] == ["3"] * 20
    assert post(gateway, headers={"mlray-version": "2"}).status == 404


# --- statistics ---

def test_the_stats_path_is_answered_by_the_gateway_never_routed_to_a_model():
    root = {"routes": {"/": {"model": "root", "versions": [{"version": "1", "app": "root--v1", "weight": 100}]}}}
    gateway, versions = make(root)
    for path in ("/mlray-gateway/stats", "/mlray-gateway/stats/", "/gw/mlray-gateway/stats"):
        response = post(gateway, path, method="GET", headers={})
        assert response.status == 200 and response.json()["window_s"] == 300, path
    assert post(gateway, "/mlray-gateway/stats", method="POST").status == 405
    assert versions.calls == []
    assert post(gateway, "/mlray-gateway/statsx").status == 200 and versions.apps() == ["root--v1"]
    assert is_stats_path("/mlray-gateway/stats") and not is_stats_path("/mlray-gateway")


def test_stats_json_has_the_contract_shape_with_zeros_for_versions_without_requests():
    timer = Clock(0.0)
    versions = Versions(timer)
    versions.took_ms = {"fraud--v2": 12.0, "fraud--v3": 40.0}
    gateway, _ = make(table(shadow=[{"version": "4", "app": "fraud--v4", "fraction": 0.0}]),
                      versions=versions, timer=timer, clock=Clock())
    for v in ("2", "2", "3"):
        post(gateway, headers={"mlray-version": v})
    response = post(gateway, "/mlray-gateway/stats", method="GET")
    assert response.status == 200 and response.media_type == "application/json"
    assert response.json() == {
        "window_s": 300,
        "routes": {"/fraud": {"model": "fraud", "versions": {
            "2": {"requests": 2, "errors": 0, "p50_ms": 12.0, "p99_ms": 12.0, "shadow": False},
            "3": {"requests": 1, "errors": 0, "p50_ms": 40.0, "p99_ms": 40.0, "shadow": False},
            "4": {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "shadow": True},
        }}},
    }


def test_requests_leave_the_window_after_stats_window_s_whole_seconds():
    clock = Clock(1000.2)
    config = dict(table(shadow=[]), stats_window_s=300)
    gateway, _ = make(config, clock=clock)
    post(gateway, headers={"mlray-version": "2"})
    clock.t = 1299.9
    assert run(gateway.stats()).json()["routes"]["/fraud"]["versions"]["2"]["requests"] == 1
    clock.t = 1300.0
    two = run(gateway.stats()).json()["routes"]["/fraud"]["versions"]["2"]
    assert two == {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "shadow": False}
    assert gateway.local_buckets() == []  # the replica dropped the bucket too


def test_nearest_rank_percentiles():
    ones = lambda values: [(v, 1) for v in values]  # noqa: E731
    values = ones(range(100, 0, -1))  # 1..100, unsorted
    assert nearest_rank(values, 50) == 50 and nearest_rank(values, 99) == 99
    assert nearest_rank(ones([10, 20, 30]), 50) == 20 and nearest_rank(ones([10, 20, 30]), 99) == 30
    assert nearest_rank(ones([7.5]), 50) == 7.5 and nearest_rank(ones([7.5]), 99) == 7.5
    assert nearest_rank(ones([1, 2, 3, 4]), 50) == 2  # rank ceil(0.5 * 4) = 2, not an interpolation
    assert nearest_rank([], 50) is None
    # a kept latency standing for 9 requests outweighs one standing for 1
    assert nearest_rank([(5.0, 9), (100.0, 1)], 50) == 5.0 and nearest_rank([(5.0, 9), (100.0, 1)], 99) == 100.0


def test_percentiles_over_the_window_through_the_gateway():
    timer, clock = Clock(0.0), Clock()
    versions = Versions(timer)
    gateway, _ = make(table(shadow=[]), versions=versions, timer=timer, clock=clock)
    for ms in range(1, 101):
        versions.took_ms["fraud--v2"] = float(ms)
        clock.t += 0.5  # spread over 50 seconds
        post(gateway, headers={"mlray-version": "2"})
    two = run(gateway.stats()).json()["routes"]["/fraud"]["versions"]["2"]
    assert (two["requests"], two["p50_ms"], two["p99_ms"]) == (100, 50.0, 99.0)


def test_latency_samples_are_capped_per_second_with_exact_counts():
    window = StatsWindow(300, samples_per_second=10, rng=random.Random(3))
    for i in range(1000):
        window.record(5000.5, "/fraud", "fraud", "2", False, 500 if i % 10 == 0 else 200, float(i % 100))
    [bucket] = window.export(5000.9)
    [cell] = bucket["cells"]
    assert (cell["requests"], cell["errors"], len(cell["latencies_ms"])) == (1000, 100, 10)
    [total] = aggregate([bucket], 5000.9, 300)
    assert total["requests"] == 1000 and 0 <= total["p50_ms"] <= total["p99_ms"] <= 99
    for second in range(400):  # memory: no more buckets than the window has seconds
        window.record(6000 + second, "/fraud", "fraud", "2", False, 200, 1.0)
    assert len(window.seconds()) == 300


def test_two_replicas_stats_are_summed_into_one_answer():
    shared = InProcessStatsStore(StatsStore())
    clock, timer = Clock(), Clock(0.0)
    a_versions, b_versions = Versions(timer), Versions(timer)
    a_versions.took_ms = {"fraud--v2": 10.0, "fraud--v3": 30.0}
    b_versions.took_ms = {"fraud--v2": 20.0, "fraud--v3": 30.0}
    b_versions.failures["fraud--v3"] = RuntimeError("down")
    a, _ = make(table(shadow=[]), versions=a_versions, stats_store=shared, clock=clock, timer=timer)
    b, _ = make(table(shadow=[]), versions=b_versions, stats_store=shared, clock=clock, timer=timer)
    for _ in range(3):
        post(a, headers={"mlray-version": "2"})
    post(b, headers={"mlray-version": "2"})
    post(b, headers={"mlray-version": "3"})
    post(a, headers={"mlray-version": "3"})
    assert run(a.push_stats()) is True
    merged = run(b.stats()).json()["routes"]["/fraud"]["versions"]
    assert merged["2"] == {"requests": 4, "errors": 0, "p50_ms": 10.0, "p99_ms": 20.0, "shadow": False}
    assert merged["3"] == {"requests": 2, "errors": 1, "p50_ms": 30.0, "p99_ms": 30.0, "shadow": False}
    assert shared.store.replica_ids() == sorted([a.replica_id, b.replica_id])
    # asking again changes nothing: a replica's buckets replace its earlier push, they are not added twice
    assert run(a.stats()).json()["routes"]["/fraud"]["versions"] == merged


def test_a_later_push_of_the_same_second_replaces_the_earlier_one():
    shared = InProcessStatsStore(StatsStore())
    a, _ = make(table(shadow=[]), stats_store=shared, clock=Clock())
    b, _ = make(table(shadow=[]), stats_store=shared, clock=Clock())
    post(a, headers={"mlray-version": "2"})
    run(a.push_stats())
    post(a, headers={"mlray-version": "2"})
    run(a.push_stats())
    assert run(b.stats()).json()["routes"]["/fraud"]["versions"]["2"]["requests"] == 2


def test_a_replica_pushes_its_buckets_by_itself_shortly_after_a_request():
    shared = InProcessStatsStore(StatsStore())
    a, _ = make(table(shadow=[]), stats_store=shared, push_interval_s=0.01)
    b, _ = make(table(shadow=[]), stats_store=shared)

    async def scenario():
        await a.handle("POST", "/fraud", {"mlray-version": "2"}, b"{}")
        await asyncio.sleep(0.1)
        return (await b.stats()).json()

    assert run(scenario())["routes"]["/fraud"]["versions"]["2"]["requests"] == 1


def test_a_gone_replicas_requests_count_until_they_leave_the_window():
    store = StatsStore()
    window = StatsWindow(60)
    window.record(100.0, "/fraud", "fraud", "2", False, 200, 5.0)
    store.put("gone", window.take_dirty(100.0), 100.0, 60)
    assert store.collect("alive", [], 159.9, 60)[0]["requests"] == 1
    assert store.collect("alive", [], 160.0, 60) == []
    assert store.replica_ids() == []


def test_an_unreachable_stats_store_is_a_503_and_the_buckets_wait_for_the_next_push():
    class Flaky(InProcessStatsStore):
        down = True

        async def collect(self, *args):
            if self.down:
                raise ConnectionError("actor unreachable")
            return await super().collect(*args)

    store = Flaky()
    gateway, _ = make(table(shadow=[]), stats_store=store)
    post(gateway, headers={"mlray-version": "2"})
    failed = run(gateway.stats())
    assert failed.status == 503 and "actor unreachable" in failed.json()["message"]
    store.down = False
    assert run(gateway.stats()).json()["routes"]["/fraud"]["versions"]["2"]["requests"] == 1


def test_versions_and_routes_no_longer_in_the_table_keep_their_window():
    gateway, _ = make(table(shadow=[]))
    post(gateway, headers={"mlray-version": "3"})
    gateway.reconfigure({"routes": {"/iris": {"model": "iris", "versions": [
        {"version": "1", "app": "iris--v1", "weight": 100}]}}})
    stats = run(gateway.stats()).json()
    assert stats["routes"]["/iris"] == {"model": "iris", "versions": {
        "1": {"requests": 0, "errors": 0, "p50_ms": None, "p99_ms": None, "shadow": False}}}
    assert stats["routes"]["/fraud"]["model"] == "fraud"
    assert list(stats["routes"]["/fraud"]["versions"]) == ["3"]
    assert stats["routes"]["/fraud"]["versions"]["3"]["requests"] == 1


def test_render_takes_the_shadow_flag_from_the_table_and_the_window_from_it():
    totals = [{"route": "/fraud", "version": "4", "model": "fraud", "shadow": False, "requests": 2, "errors": 0,
               "p50_ms": 1.0, "p99_ms": 2.0}]
    rendered = render(totals, RoutingTable.parse(dict(TABLE, stats_window_s=60)))
    assert rendered["window_s"] == 60
    assert rendered["routes"]["/fraud"]["versions"]["4"] == {
        "requests": 2, "errors": 0, "p50_ms": 1.0, "p99_ms": 2.0, "shadow": True}

"""app.py and gateway.py, the only modules that import Ray, against stand-in ray/starlette/mlflow modules: the
builder binds the model URI, the replica loads the model once, and requests, reconfigure and health reach
ModelServer; the gateway calls version apps through their app handles and sums its replicas' statistics in one
named detached actor."""
import asyncio
import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from standins import IrisStandIn, record

SERVE_DIR = Path(__file__).resolve().parents[1]


def test_importing_the_package_and_its_core_does_not_import_ray():
    code = ("import sys, mlray_serve, mlray_serve.server, mlray_serve.protocol, mlray_serve.batching, "
            "mlray_serve.routing, mlray_serve.gateway_stats, mlray_serve.gateway_core; "
            "print('ray' in sys.modules, 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=SERVE_DIR, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


class _Batched:
    """serve.batch's stand-in: calls the batch method with a one-item list; records the in-place setters."""

    def __init__(self, fn, settings):
        self.fn, self.settings = fn, settings

    def __get__(self, instance, owner):
        outer = self

        async def submit(item):
            return (await outer.fn(instance, [item]))[0]

        submit.set_max_batch_size = lambda n: outer.settings.__setitem__("max_batch_size", n)
        submit.set_batch_wait_timeout_s = lambda s: outer.settings.__setitem__("batch_wait_timeout_s", s)
        return submit


class _Actors:
    """ray.remote's stand-in: named actors live in a registry; options are recorded; a method's .remote(...) runs
    the method on the instance and returns an awaitable, as an ObjectRef is."""

    def __init__(self):
        self.registry = {}
        self.created = []

    def remote(self, **decorator_options):
        actors = self

        def wrap(cls):
            class ActorClass:
                def options(self, **options):
                    return types.SimpleNamespace(remote=lambda *args: actors.create(cls, decorator_options,
                                                                                    options, args))
            return ActorClass()
        return wrap

    def create(self, cls, decorator_options, options, args):
        key = (options.get("namespace"), options.get("name"))
        if key in self.registry and options.get("get_if_exists"):
            return self.registry[key]
        self.created.append(dict(decorator_options, **options))
        handle = _ActorHandle(cls(*args))
        self.registry[key] = handle
        return handle


class _Remote:
    def __init__(self, fn):
        self._fn = fn

    def remote(self, *args):
        async def call():
            result = self._fn(*args)
            return await result if asyncio.iscoroutine(result) else result
        return call()


class _ActorHandle:
    def __init__(self, instance):
        self.instance = instance

    def __getattr__(self, name):
        return _Remote(getattr(self.instance, name))


@pytest.fixture
def standins(monkeypatch):
    """Stand-in ray, ray.serve, starlette and mlflow modules; app.py and gateway.py imported against them."""
    loads = []
    batch_settings = {}
    apps = {}  # app name → replica, what serve.get_app_handle reaches
    actors = _Actors()
    serve = types.ModuleType("ray.serve")

    def deployment(name):
        def wrap(cls):
            cls.deployment_name = name
            cls.bind = classmethod(lambda c, *args: (c, args))
            return cls
        return wrap

    def batch(**settings):
        batch_settings.update(settings)
        return lambda fn: _Batched(fn, batch_settings)

    def get_app_handle(name):
        if name not in apps:
            raise RuntimeError(f"Application '{name}' does not exist.")
        return _ActorHandle(apps[name])

    serve.deployment, serve.batch, serve.get_app_handle = deployment, batch, get_app_handle
    ray = types.ModuleType("ray")
    ray.serve = serve
    ray.remote = actors.remote
    requests = types.ModuleType("starlette.requests")
    requests.Request = object
    responses = types.ModuleType("starlette.responses")

    class HttpResponse:
        def __init__(self, content, status_code, media_type, headers=None):
            self.content, self.status_code, self.media_type = content, status_code, media_type
            self.headers = dict(headers or {})

    responses.Response = HttpResponse
    pyfunc = types.ModuleType("mlflow.pyfunc")

    def load_model(uri):
        loads.append(uri)
        return IrisStandIn()

    pyfunc.load_model = load_model
    mlflow = types.ModuleType("mlflow")
    mlflow.pyfunc = pyfunc
    for name, module in {"ray": ray, "ray.serve": serve, "starlette": types.ModuleType("starlette"),
                         "starlette.requests": requests, "starlette.responses": responses,
                         "mlflow": mlflow, "mlflow.pyfunc": pyfunc}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "mlray_serve.app", raising=False)
    monkeypatch.delitem(sys.modules, "mlray_serve.gateway", raising=False)
    app_module = importlib.import_module("mlray_serve.app")
    app_module.loads, app_module.batch_settings = loads, batch_settings
    gateway_module = importlib.import_module("mlray_serve.gateway")
    yield types.SimpleNamespace(app=app_module, gateway=gateway_module, apps=apps, actors=actors)
    sys.modules.pop("mlray_serve.app", None)
    sys.modules.pop("mlray_serve.gateway", None)


@pytest.fixture
def app(standins):
    return standins.app


class FakeRequest:
    def __init__(self, obj):
        self._raw = json.dumps(obj).encode()
        self.headers = {"content-type": "application/json"}

    async def body(self):
        return self._raw


def test_build_binds_the_model_uri_to_the_MLflowModel_deployment(app):
    cls, args = app.build({"model_uri": "models:/iris.staging/3", "mlray_model": "iris.staging", "mlray_version": "3"})
    assert cls is app.MLflowModel and cls.deployment_name == "MLflowModel"
    assert args == ("models:/iris.staging/3",)


def test_a_replica_loads_once_answers_and_reports_health(app):
    replica = app.MLflowModel("models:/iris.staging/3")
    replica.check_health()
    response = asyncio.run(replica(FakeRequest({"data": [record(6.0)]})))
    assert (response.status_code, json.loads(response.content)) == (200, [[2]])
    bad = asyncio.run(replica(FakeRequest({"rows": []})))
    assert bad.status_code == 400 and json.loads(bad.content)["error_code"] == "BAD_REQUEST"
    assert app.loads == ["models:/iris.staging/3"]


def test_reconfigure_sets_serve_batch_in_place_and_batched_requests_answer(app):
    replica = app.MLflowModel("models:/iris.staging/3")
    replica.reconfigure({"max_batch_size": 16, "batch_wait_timeout_s": 0.2})
    assert app.batch_settings["max_batch_size"] == 16 and app.batch_settings["batch_wait_timeout_s"] == 0.2
    response = asyncio.run(replica(FakeRequest({"dataframe_records": [record(1.0)]})))
    assert json.loads(response.content) == {"predictions": [[0]]}
    assert app.loads == ["models:/iris.staging/3"]


def test_invoke_answers_a_handle_call_as_the_http_route_would(app):
    replica = app.MLflowModel("models:/iris.staging/3")
    body = json.dumps({"dataframe_records": [record(6.0)]}).encode()
    status, data, media_type = asyncio.run(replica.invoke(body, "application/json"))
    assert (status, json.loads(data), media_type) == (200, {"predictions": [[2]]}, "application/json")
    status, data, media_type = asyncio.run(replica.invoke(b"a;b", "text/plain"))
    assert (status, media_type) == (415, "text/plain") and b"Unsupported content type" in data


class GatewayRequest:
    def __init__(self, path, obj=None, headers=None, method="POST"):
        self.method = method
        self.url = types.SimpleNamespace(path=path)
        self.headers = {"content-type": "application/json", **(headers or {})}
        self._raw = b"" if obj is None else json.dumps(obj).encode()

    async def body(self):
        return self._raw


GATEWAY_TABLE = {"stats_window_s": 60, "routes": {"/iris": {"model": "iris", "versions": [
    {"version": "3", "app": "iris--v3", "weight": 100},
    {"version": "4", "app": "iris--v4", "weight": 0}]}}}


def test_the_gateway_builder_binds_MLRayGateway(standins):
    cls, args = standins.gateway.build({})
    assert cls is standins.gateway.MLRayGateway and cls.deployment_name == "MLRayGateway" and args == ()


def test_the_gateway_calls_the_version_apps_invoke_through_its_app_handle(standins):
    standins.apps["iris--v3"] = standins.app.MLflowModel("models:/iris/3")
    gateway = standins.gateway.MLRayGateway()
    gateway.reconfigure(GATEWAY_TABLE)
    response = asyncio.run(gateway(GatewayRequest("/iris", {"dataframe_records": [record(6.0)]})))
    assert response.status_code == 200 and json.loads(response.content) == {"predictions": [[2]]}
    assert response.headers == {"mlray-version": "3"} and response.media_type == "application/json"
    missing = asyncio.run(gateway(GatewayRequest("/iris", {"data": []}, {"mlray-version": "4"})))
    assert missing.status_code == 502 and "iris--v4" in json.loads(missing.content)["message"]
    with pytest.raises(ValueError):
        gateway.reconfigure({"routes": {"/iris": {"model": "iris", "versions": [
            {"version": "3", "app": "iris--v3", "weight": 50}]}}})
    again = asyncio.run(gateway(GatewayRequest("/iris", {"dataframe_records": [record(1.0)]})))
    assert json.loads(again.content) == {"predictions": [[0]]}  # the old table still routes


def test_gateway_replicas_share_one_named_detached_stats_actor_and_their_sums(standins):
    standins.apps["iris--v3"] = standins.app.MLflowModel("models:/iris/3")
    replicas = [standins.gateway.MLRayGateway(), standins.gateway.MLRayGateway()]
    for replica in replicas:
        replica.reconfigure(GATEWAY_TABLE)

    async def scenario():
        for replica in replicas:
            await replica(GatewayRequest("/iris", {"dataframe_records": [record(6.0)]}))
        await replicas[0]._gateway.push_stats()
        return await replicas[1](GatewayRequest("/mlray-gateway/stats", method="GET"))

    response = asyncio.run(scenario())
    assert response.status_code == 200
    stats = json.loads(response.content)
    assert stats["window_s"] == 60
    assert stats["routes"]["/iris"]["versions"]["3"]["requests"] == 2
    assert stats["routes"]["/iris"]["versions"]["4"]["requests"] == 0
    assert standins.actors.created == [{"num_cpus": 0, "max_restarts": -1, "name": "mlray-gateway-stats",
                                        "namespace": "mlray", "lifetime": "detached", "get_if_exists": True}]

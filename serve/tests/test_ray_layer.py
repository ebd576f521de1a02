"""app.py, the only module that imports Ray, against stand-in ray/starlette/mlflow modules: the builder binds the
model URI, the replica loads the model once, and requests, reconfigure and health reach ModelServer."""
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
    code = ("import sys, mlray_serve, mlray_serve.server, mlray_serve.protocol, mlray_serve.batching; "
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


@pytest.fixture
def app(monkeypatch):
    loads = []
    batch_settings = {}
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

    serve.deployment, serve.batch = deployment, batch
    ray = types.ModuleType("ray")
    ray.serve = serve
    requests = types.ModuleType("starlette.requests")
    requests.Request = object
    responses = types.ModuleType("starlette.responses")

    class HttpResponse:
        def __init__(self, content, status_code, media_type):
            self.content, self.status_code, self.media_type = content, status_code, media_type

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
    module = importlib.import_module("mlray_serve.app")
    module.loads, module.batch_settings = loads, batch_settings
    yield module
    sys.modules.pop("mlray_serve.app", None)


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

"""One replica: loaded once, health, reconfigure in place, and batching split back per request."""
import asyncio
import json

import pytest

from mlray_serve.server import ModelNotLoaded, ModelServer
from standins import PETAL_LENGTH, IrisStandIn, record


class CountingLoader:
    def __init__(self):
        self.model = IrisStandIn()
        self.loads = 0

    def __call__(self):
        self.loads += 1
        return self.model


def body(obj):
    return json.dumps(obj).encode()


def test_health_fails_until_the_model_is_loaded_and_requests_get_503():
    server = ModelServer(CountingLoader())
    with pytest.raises(ModelNotLoaded):
        server.check_health()
    response = asyncio.run(server.handle(body({"data": [record(1.0)]}), "application/json"))
    assert response.status == 503 and response.body["error_code"] == "TEMPORARILY_UNAVAILABLE"
    server.load()
    server.check_health()


def test_a_failed_load_leaves_the_replica_unhealthy():
    def broken():
        raise OSError("artifact store unreachable")

    server = ModelServer(broken)
    with pytest.raises(OSError):
        server.load()
    with pytest.raises(ModelNotLoaded):
        server.check_health()


def test_the_model_is_loaded_once_per_replica_across_requests_and_reconfigures():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()
    server.load()

    async def scenario():
        for size in (None, 4, 2):
            server.reconfigure({"max_batch_size": size} if size else {})
            await server.handle(body({"data": [record(1.0)]}), "application/json")

    asyncio.run(scenario())
    assert loader.loads == 1


def test_without_max_batch_size_every_request_is_its_own_predict():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()

    async def scenario():
        return await asyncio.gather(*(server.handle(body({"data": [record(1.0)]}), None) for _ in range(5)))

    responses = asyncio.run(scenario())
    assert [r.body for r in responses] == [[[0]]] * 5
    assert [rows for rows, _ in loader.model.calls] == [1] * 5


def test_batching_concatenates_requests_and_splits_predictions_back_per_request():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()
    server.reconfigure({"max_batch_size": 3, "batch_wait_timeout_s": 0.5})
    bodies = [
        {"data": [record(1.0), record(6.0)]},                               # seed: bare list
        {"dataframe_records": [record(4.0)]},                               # MLflow: predictions
        {"dataframe_split": {"columns": list(record(0).keys()), "data": [list(record(6.0).values())] * 3}},
    ]

    async def scenario():
        return await asyncio.gather(*(server.handle(body(b), "application/json") for b in bodies))

    responses = asyncio.run(scenario())
    assert [r.status for r in responses] == [200, 200, 200]
    assert responses[0].body == [[0], [2]]
    assert responses[1].body == {"predictions": [[1]]}
    assert responses[2].body == {"predictions": [[2], [2], [2]]}
    assert loader.model.calls == [(6, None)]  # one predict for the three requests


def test_requests_with_different_params_or_columns_are_predicted_apart_within_a_batch():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()
    server.reconfigure({"max_batch_size": 4, "batch_wait_timeout_s": 0.5})
    bodies = [
        {"inputs": {PETAL_LENGTH: [1.0]}, "params": {"offset": 1}},
        {"inputs": {PETAL_LENGTH: [1.0]}, "params": {"offset": 5}},
        {"inputs": {PETAL_LENGTH: [6.0]}, "params": {"offset": 1}},
        {"data": [record(6.0)]},
    ]

    async def scenario():
        return await asyncio.gather(*(server.handle(body(b), None) for b in bodies))

    responses = asyncio.run(scenario())
    assert [r.body for r in responses] == [{"predictions": [[1]]}, {"predictions": [[5]]},
                                           {"predictions": [[3]]}, [[2]]]
    assert sorted(loader.model.calls, key=str) == sorted(
        [(2, {"offset": 1}), (1, {"offset": 5}), (1, None)], key=str)


def test_a_failing_group_fails_only_its_own_requests():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()
    server.reconfigure({"max_batch_size": 2, "batch_wait_timeout_s": 0.5})

    async def scenario():
        return await asyncio.gather(
            server.handle(body({"inputs": {PETAL_LENGTH: [1.0]}, "params": {"fail": True}}), None),
            server.handle(body({"inputs": {PETAL_LENGTH: [6.0]}}), None))

    failed, ok = asyncio.run(scenario())
    assert failed.status == 400 and "asked to fail" in failed.body["message"]
    assert (ok.status, ok.body) == (200, {"predictions": [[2]]})


def test_a_prediction_of_the_wrong_length_cannot_be_split_and_answers_400():
    class Short(IrisStandIn):
        def predict(self, model_input, params=None):
            return super().predict(model_input, params)[:1]

    server = ModelServer(Short)
    server.load()
    server.reconfigure({"max_batch_size": 2, "batch_wait_timeout_s": 0.5})

    async def scenario():
        return await asyncio.gather(*(server.handle(body({"data": [record(1.0)]}), None) for _ in range(2)))

    responses = asyncio.run(scenario())
    assert [r.status for r in responses] == [400, 400]
    assert "1 predictions for 2 rows" in responses[0].body["message"]


def test_reconfigure_applies_a_new_batch_size_to_the_running_queue():
    loader = CountingLoader()
    server = ModelServer(loader)
    server.load()

    async def burst():
        await asyncio.gather(*(server.handle(body({"data": [record(1.0)]}), None) for _ in range(4)))

    async def scenario():
        server.reconfigure({"max_batch_size": 2, "batch_wait_timeout_s": 0.5})
        await burst()
        server.reconfigure({"max_batch_size": 4, "batch_wait_timeout_s": 0.5})
        await burst()
        server.reconfigure({})
        await burst()

    asyncio.run(scenario())
    assert [rows for rows, _ in loader.model.calls] == [2, 2, 4, 1, 1, 1, 1]


def test_invalid_reconfigure_keeps_the_previous_settings():
    server = ModelServer(CountingLoader())
    server.reconfigure({"max_batch_size": 8})
    with pytest.raises(ValueError):
        server.reconfigure({"max_batch_size": -1})
    assert server.settings.max_batch_size == 8

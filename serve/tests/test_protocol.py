"""Every request format MLRay's apps accept, and the error bodies of the ones they refuse."""
import asyncio
import json

import pytest

from mlray_serve.server import ModelServer
from standins import PETAL_LENGTH, IrisStandIn, record


def serve_once(body, content_type="application/json", model=None):
    server = ModelServer(lambda: model or IrisStandIn())
    server.load()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asyncio.run(server.handle(raw, content_type))


def test_seed_data_answers_the_bare_list_the_seed_returned():
    response = serve_once({"data": [record(5.9), record(1.4), record(4.5)]})
    assert response.status == 200
    assert response.body == [[2], [0], [1]]


def test_dataframe_split_answers_predictions():
    body = {"dataframe_split": {"columns": [PETAL_LENGTH], "data": [[5.9], [1.4]]}}
    response = serve_once(body)
    assert (response.status, response.body) == (200, {"predictions": [[2], [0]]})


def test_dataframe_split_with_index():
    body = {"dataframe_split": {"columns": [PETAL_LENGTH], "index": [7, 9], "data": [[4.0], [1.0]]}}
    assert serve_once(body).body == {"predictions": [[1], [0]]}


def test_dataframe_records_answers_predictions():
    response = serve_once({"dataframe_records": [record(1.0), record(6.0)]})
    assert (response.status, response.body) == (200, {"predictions": [[0], [2]]})


def test_instances_of_records_answers_predictions():
    assert serve_once({"instances": [record(3.0)]}).body == {"predictions": [[1]]}


def test_inputs_columnar_with_params_passes_params_to_predict():
    model = IrisStandIn()
    response = serve_once({"inputs": {PETAL_LENGTH: [1.0, 6.0]}, "params": {"offset": 10}}, model=model)
    assert response.body == {"predictions": [[10], [12]]}
    assert model.calls == [(2, {"offset": 10})]


def test_no_params_means_predict_is_called_without_them():
    model = IrisStandIn()
    serve_once({"dataframe_records": [record(1.0)]}, model=model)
    assert model.calls == [(1, None)]


def test_csv_body_answers_predictions():
    response = serve_once(f"{PETAL_LENGTH},x\n1.0,1\n6.0,2\n".encode(), content_type="text/csv")
    assert response.body == {"predictions": [[0], [2]]}


def test_charset_utf8_is_accepted():
    assert serve_once({"data": [record(1.0)]}, content_type="application/json; charset=utf-8").status == 200


@pytest.mark.parametrize("body, reason", [
    ([record(1.0)], "got a JSON list"),
    ({}, "exactly one of data, dataframe_split, dataframe_records, instances, inputs"),
    ({"data": [record(1.0)], "instances": [record(1.0)]}, "got keys ['data', 'instances']"),
    ({"dataframe_records": [record(1.0)], "columns": ["a"]}, "got keys ['columns', 'dataframe_records']"),
    ({"data": {"a": 1}}, "data must be a list of records"),
    ({"dataframe_split": [[1.0]]}, "dataframe_split must be an object"),
    ({"instances": "x"}, "instances must be a list"),
    ({"inputs": {PETAL_LENGTH: [1.0]}, "params": [1]}, "params must be a JSON object"),
])
def test_malformed_bodies_answer_400_with_error_code_and_message(body, reason):
    response = serve_once(body)
    assert response.status == 400
    assert response.body["error_code"] == "BAD_REQUEST"
    assert reason in response.body["message"]


def test_invalid_json_answers_400():
    response = serve_once(b"{not json")
    assert response.status == 400 and "not valid JSON" in response.body["message"]


def test_dataframe_split_rows_not_matching_columns_answers_400():
    response = serve_once({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}})
    assert response.status == 400 and response.body["message"].startswith("dataframe_split could not be read")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; charset=latin-1"])
def test_other_content_types_answer_415_as_mlflow_does(content_type):
    response = serve_once({"data": [record(1.0)]}, content_type=content_type)
    assert response.status == 415 and response.media_type == "text/plain"


def test_a_failing_predict_answers_400_with_mlflows_error_body():
    response = serve_once({"inputs": {PETAL_LENGTH: [1.0]}, "params": {"fail": True}})
    assert response.status == 400
    assert response.body["error_code"] == "BAD_REQUEST"
    assert "asked to fail" in response.body["message"] and "ValueError" in response.body["stack_trace"]


def test_a_missing_column_fails_predict_with_400():
    response = serve_once({"data": [{"sepal length (cm)": 1.0}]})
    assert response.status == 400 and PETAL_LENGTH in response.body["message"]


def test_response_bytes_are_the_json_body():
    response = serve_once({"data": [record(1.0)]})
    assert json.loads(response.json_bytes()) == [[0]]

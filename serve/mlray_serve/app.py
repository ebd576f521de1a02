"""Ray Serve application builder for one MLflow pyfunc model.

MLRay PUTs, per model:
    import_path: mlray_serve.app:build
    args: {model_uri: "models:/<name>/<version>", mlray_model: ..., mlray_version: ...}
    deployments: [{name: MLflowModel, ...}]

The deployment is named MLflowModel because MLRay's per-deployment overrides name it.
Requests: the seed's {"data": [...records...]} and MLflow's scoring formats
(dataframe_split, dataframe_records, instances, inputs). Responses: {"predictions": [...]}.
"""
from typing import Any, Dict

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse_payload(body: Any):
    """Turn a request body into model input, or raise ValueError with a reason a client can act on."""
    import pandas as pd

    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object with one of: data, " + ", ".join(_MLFLOW_KEYS))
    keys = [k for k in ("data",) + _MLFLOW_KEYS if k in body]
    if len(keys) != 1:
        raise ValueError("body must have exactly one of: data, " + ", ".join(_MLFLOW_KEYS) + f"; got {sorted(body)}")
    key = keys[0]
    value = body[key]
    if key in ("data", "dataframe_records"):
        return pd.DataFrame.from_records(value)
    if key == "dataframe_split":
        return pd.DataFrame(data=value["data"], columns=value.get("columns"), index=value.get("index"))
    if key == "instances":
        return pd.DataFrame(value) if isinstance(value, list) and value and isinstance(value[0], dict) else value
    return pd.DataFrame(value) if isinstance(value, dict) else value


def to_jsonable(result: Any):
    if hasattr(result, "to_dict") and hasattr(result, "columns"):
        return result.to_dict(orient="records")
    if hasattr(result, "tolist"):
        return result.tolist()
    return result


@serve.deployment(name="MLflowModel")
class MLflowModel:
    def __init__(self, model_uri: str, max_batch_size: int = 0):
        import mlflow.pyfunc

        self.model_uri = model_uri
        self.model = mlflow.pyfunc.load_model(model_uri)

    def reconfigure(self, config: Dict[str, Any]):
        # user_config.max_batch_size arrives here; batching is left to the model for now.
        self.max_batch_size = int(config.get("max_batch_size", 0) or 0)

    async def __call__(self, request: Request):
        try:
            body = await request.json()
            data = parse_payload(body)
        except ValueError as e:
            return JSONResponse({"error_code": "BAD_REQUEST", "message": str(e)}, status_code=400)
        params = body.get("params") if isinstance(body, dict) else None
        result = self.model.predict(data, params=params) if params else self.model.predict(data)
        return {"predictions": to_jsonable(result)}


def build(args: Dict[str, Any]):
    """Builder named by MLRay's import_path; extra args (mlray_model, mlray_version) are informational."""
    model_uri = args["model_uri"]
    return MLflowModel.bind(model_uri)

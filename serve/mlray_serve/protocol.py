"""Request and response formats of an MLRay app, without Ray or MLflow.

Two families of request bodies are accepted on `POST /<route>`:
- the seed's `{"data": [ {column: value, ...}, ... ]}`, answered with the bare JSON list the seed's clients read
  (`model.predict(data).tolist()`);
- MLflow's scoring-server bodies (`dataframe_split`, `dataframe_records`, `instances`, `inputs`, each with an
  optional `params` object), answered as `mlflow models serve` answers them: `{"predictions": ...}`.
Anything else is a 400 with MLflow's error body `{"error_code": "BAD_REQUEST", "message": ...}`.
"""
import io
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

SEED_KEY = "data"
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
INPUT_KEYS = (SEED_KEY,) + MLFLOW_KEYS
PARAMS_KEY = "params"


class BadRequest(Exception):
    """A request the model cannot be asked about; its text is the 400 body's message."""


@dataclass
class ParsedRequest:
    """One request's model input, and how its answer is shaped."""

    model_input: Any
    params: Optional[Dict[str, Any]] = None
    # True for the seed's {"data": ...}: the answer is the bare list, not {"predictions": ...}.
    bare_list: bool = False
    rows: Optional[int] = field(default=None)  # rows of a DataFrame input (what batching concatenates and splits)


@dataclass
class Response:
    status: int
    body: Any
    media_type: str = "application/json"

    def json_bytes(self) -> bytes:
        if self.media_type != "application/json":
            return str(self.body).encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def error(message: str, status: int = 400, error_code: str = "BAD_REQUEST", stack_trace: Optional[str] = None) -> Response:
    body = {"error_code": error_code, "message": message}
    if stack_trace:
        body["stack_trace"] = stack_trace
    return Response(status, body)


def _media_type(content_type: Optional[str]) -> str:
    """The media type, refusing parameters other than charset=utf-8 (MLflow's scoring server answers 415 to them)."""
    if not content_type:
        return "application/json"  # the seed's clients did not always set one
    parts = [p.strip() for p in content_type.split(";")]
    for param in parts[1:]:
        if param.replace(" ", "").lower() != "charset=utf-8":
            raise UnsupportedMediaType(f"Unsupported content type parameter '{param}'; only charset=utf-8 is allowed")
    return parts[0].lower()


class UnsupportedMediaType(Exception):
    """Answered with 415, as MLflow's scoring server does."""


def parse_request(raw: bytes, content_type: Optional[str]) -> ParsedRequest:
    """Turn a request into model input; raises BadRequest (400) or UnsupportedMediaType (415)."""
    import pandas as pd

    media_type = _media_type(content_type)
    if media_type == "text/csv":
        try:
            frame = pd.read_csv(io.BytesIO(raw))
        except Exception as e:  # pandas raises several types for malformed CSV
            raise BadRequest(f"Failed to parse the CSV body: {e}") from e
        return ParsedRequest(frame, rows=len(frame))
    if media_type != "application/json":
        raise UnsupportedMediaType(f"Unsupported content type '{media_type}'; use application/json or text/csv")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"The body is not valid JSON: {e}") from e
    return parse_body(body)


def parse_body(body: Any) -> ParsedRequest:
    """A decoded JSON body → model input, or BadRequest naming what is wrong."""
    import pandas as pd

    expected = "one of " + ", ".join(INPUT_KEYS) + " (plus an optional params object)"
    if not isinstance(body, dict):
        raise BadRequest(f"The body must be a JSON object with {expected}; got a JSON {type(body).__name__}")
    keys = [k for k in INPUT_KEYS if k in body]
    unknown = sorted(k for k in body if k not in INPUT_KEYS and k != PARAMS_KEY)
    if len(keys) != 1 or unknown:
        raise BadRequest(f"The body must have exactly {expected}; got keys {sorted(body)}")
    params = body.get(PARAMS_KEY)
    if params is not None and not isinstance(params, dict):
        raise BadRequest(f"params must be a JSON object; got a JSON {type(params).__name__}")
    key = keys[0]
    value = body[key]
    try:
        model_input = _model_input(key, value, pd)
    except BadRequest:
        raise
    except Exception as e:  # pandas' own complaint about a malformed frame
        raise BadRequest(f"{key} could not be read as model input: {e}") from e
    rows = len(model_input) if isinstance(model_input, pd.DataFrame) else None
    return ParsedRequest(model_input, params=params, bare_list=key == SEED_KEY, rows=rows)


def _model_input(key: str, value: Any, pd):
    if key in (SEED_KEY, "dataframe_records"):
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise BadRequest(f"{key} must be a list of records (JSON objects of column: value)")
        return pd.DataFrame.from_records(value)
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise BadRequest('dataframe_split must be an object {"columns": [...], "data": [[...], ...]}')
        return pd.DataFrame(data=value["data"], columns=value.get("columns"), index=value.get("index"))
    if key == "instances":
        if not isinstance(value, list):
            raise BadRequest("instances must be a list")
        if value and all(isinstance(r, dict) for r in value):
            return pd.DataFrame.from_records(value)
        import numpy as np

        return np.asarray(value)
    # inputs: a columnar object becomes a DataFrame (what a DataFrame-signature pyfunc such as the iris model
    # expects); a list of records a DataFrame too; anything else is passed as an array.
    if isinstance(value, dict):
        return pd.DataFrame(value)
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return pd.DataFrame.from_records(value)
    import numpy as np

    return np.asarray(value)


def to_jsonable(result: Any) -> Any:
    """A prediction as MLflow's scoring server encodes it: DataFrame → records, ndarray/Series → (nested) list."""
    if hasattr(result, "to_dict") and hasattr(result, "columns"):
        return json.loads(result.to_json(orient="records"))
    if hasattr(result, "tolist"):
        return result.tolist()
    return result


def answer(parsed: ParsedRequest, prediction: Any) -> Response:
    value = to_jsonable(prediction)
    return Response(200, value if parsed.bare_list else {"predictions": value})


def split_rows(prediction: Any, sizes: List[int]) -> List[Any]:
    """Split one prediction over concatenated frames back into one prediction per request, by row counts."""
    total = sum(sizes)
    length = len(prediction)
    if length != total:
        raise ValueError(f"the model returned {length} predictions for {total} rows; a batch cannot be split back")
    pieces, start = [], 0
    for size in sizes:
        end = start + size
        pieces.append(prediction.iloc[start:end] if hasattr(prediction, "iloc") else prediction[start:end])
        start = end
    return pieces

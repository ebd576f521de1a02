"""One replica's model and request handling, without Ray: what `app.MLflowModel` delegates to.

The model is loaded once per replica (`load`, from the deployment's constructor); `check_health` fails until it is;
`reconfigure` applies `user_config` (batching) in place, never reloading the model.
"""
import json
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

from .batching import AsyncBatcher, BatchSettings
from .protocol import (BadRequest, ParsedRequest, Response, UnsupportedMediaType, answer, error, parse_request,
                       split_rows)


class ModelNotLoaded(RuntimeError):
    pass


class ModelServer:
    def __init__(self, load_model: Callable[[], Any], make_batcher: Callable[..., Any] = AsyncBatcher):
        self._load_model = load_model
        self._model = None
        self._settings = BatchSettings()
        # make_batcher(handle_batch) → an object with submit / set_max_batch_size / set_batch_wait_timeout_s.
        self._batcher = make_batcher(self._predict_batch_async)

    @property
    def settings(self) -> BatchSettings:
        return self._settings

    def load(self) -> None:
        """Loads the model unless it already is (a replica loads it once, however often this is called)."""
        if self._model is None:
            self._model = self._load_model()

    def check_health(self) -> None:
        """Ray Serve's health check: raising marks the replica unhealthy, and Ray replaces it."""
        if self._model is None:
            raise ModelNotLoaded("the model is not loaded")

    def reconfigure(self, user_config: Optional[Dict[str, Any]]) -> BatchSettings:
        """Applies user_config in place (no reload); an invalid value raises and leaves the old settings."""
        settings = BatchSettings.from_user_config(user_config)
        if settings.enabled:
            self._batcher.set_max_batch_size(settings.max_batch_size)
            self._batcher.set_batch_wait_timeout_s(settings.batch_wait_timeout_s)
        self._settings = settings
        return settings

    async def handle(self, raw: bytes, content_type: Optional[str]) -> Response:
        """One HTTP request's body and Content-Type → its response."""
        try:
            parsed = parse_request(raw, content_type)
        except UnsupportedMediaType as e:
            return Response(415, str(e), media_type="text/plain")
        except BadRequest as e:
            return error(str(e))
        if self._model is None:
            return error("the model is not loaded", status=503, error_code="TEMPORARILY_UNAVAILABLE")
        # Only frames can be concatenated and split back by rows; other inputs are predicted on their own.
        if self._settings.enabled and parsed.rows is not None:
            return await self._batcher.submit(parsed)
        return self.predict_batch([parsed])[0]

    async def _predict_batch_async(self, requests: List[ParsedRequest]) -> List[Response]:
        return self.predict_batch(requests)

    def predict_batch(self, requests: List[ParsedRequest]) -> List[Response]:
        """Predicts requests together where they can be (same columns, same params): one predict call per group
        on the concatenated rows, split back per request. A failing group answers 400 to its requests only."""
        responses: List[Optional[Response]] = [None] * len(requests)
        for positions in _groups(requests).values():
            group = [requests[i] for i in positions]
            try:
                for i, response in zip(positions, self._predict_group(group)):
                    responses[i] = response
            except Exception as e:  # MLflow's scoring server answers a failed predict with 400 and the trace
                failure = error(f"Encountered an unexpected error while evaluating the model: {e!r}",
                                stack_trace=traceback.format_exc())
                for i in positions:
                    responses[i] = failure
        return responses

    def _predict_group(self, group: List[ParsedRequest]) -> List[Response]:
        params = group[0].params
        if len(group) == 1:
            return [answer(group[0], self._predict(group[0].model_input, params))]
        import pandas as pd

        frame = pd.concat([r.model_input for r in group], ignore_index=True)
        pieces = split_rows(self._predict(frame, params), [r.rows for r in group])
        return [answer(r, piece) for r, piece in zip(group, pieces)]

    def _predict(self, model_input: Any, params: Optional[Dict[str, Any]]) -> Any:
        # Only pass params when given: models whose predict takes no params keep working.
        return self._model.predict(model_input, params=params) if params else self._model.predict(model_input)


def _groups(requests: List[ParsedRequest]) -> Dict[Tuple, List[int]]:
    groups: Dict[Tuple, List[int]] = {}
    for i, request in enumerate(requests):
        if request.rows is None:
            key: Tuple = ("single", i)
        else:
            columns = tuple(str(c) for c in request.model_input.columns)
            key = ("frame", columns, json.dumps(request.params, sort_keys=True, default=str))
        groups.setdefault(key, []).append(i)
    return groups

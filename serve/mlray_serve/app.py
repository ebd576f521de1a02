"""The Ray-facing layer, kept thin: with gateway.py the only module that imports Ray (everything under it is tested
without Ray).

MLRay PUTs, per model:
    import_path: mlray_serve.app:build
    args: {model_uri: "models:/<name>/<version>", mlray_model: ..., mlray_version: ...}
    deployments: [{name: MLflowModel, user_config: {max_batch_size: 16}, ...}]
The deployment is named MLflowModel because MLRay's per-deployment overrides name it.
"""
from typing import Any, Dict, Optional, Tuple

from ray import serve
from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from .batching import DEFAULT_BATCH_WAIT_TIMEOUT_S
from .server import ModelServer


class RayBatcher:
    """Ray Serve's @serve.batch behind the interface of batching.AsyncBatcher, so production batches with Ray's
    own queue; set_max_batch_size / set_batch_wait_timeout_s are serve.batch's in-place setters."""

    def __init__(self, handle_batch):
        self._handle_batch = handle_batch

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_TIMEOUT_S)
    async def submit(self, items):
        return await self._handle_batch(items)

    def set_max_batch_size(self, size: int) -> None:
        self.submit.set_max_batch_size(size)

    def set_batch_wait_timeout_s(self, seconds: float) -> None:
        self.submit.set_batch_wait_timeout_s(seconds)


@serve.deployment(name="MLflowModel")
class MLflowModel:
    def __init__(self, model_uri: str):
        import mlflow.pyfunc

        self._server = ModelServer(lambda: mlflow.pyfunc.load_model(model_uri), make_batcher=RayBatcher)
        self._server.load()  # once per replica; a failure fails the replica's start, which Ray reports

    def reconfigure(self, user_config: Dict[str, Any]):
        self._server.reconfigure(user_config)

    def check_health(self):
        self._server.check_health()

    async def __call__(self, request: Request):
        response = await self._server.handle(await request.body(), request.headers.get("content-type"))
        return HttpResponse(response.json_bytes(), status_code=response.status, media_type=response.media_type)

    async def invoke(self, body: bytes, content_type: Optional[str]) -> Tuple[int, bytes, str]:
        """The same answer as __call__, for the gateway's handle calls (a version app has no route in gateway mode)."""
        response = await self._server.handle(body, content_type)
        return response.status, response.json_bytes(), response.media_type


def build(args: Dict[str, Any]):
    """The builder MLRay's import_path names; args.mlray_model / mlray_version only mark the app as MLRay's."""
    return MLflowModel.bind(args["model_uri"])

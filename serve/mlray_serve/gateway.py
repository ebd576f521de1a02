"""The gateway's Ray-facing layer, kept thin: it and app.py are the only modules that import Ray (the routing,
statistics and request handling under it are gateway_core.py, routing.py and gateway_stats.py, tested without Ray).

MLRay PUTs, per cluster in gateway mode (docs/serving.md):
    name: mlray-gateway, route_prefix: "/", import_path: mlray_serve.gateway:build
    deployments: [{name: MLRayGateway, user_config: <the routing table>, num_replicas: ..., ...}]
Each model version is its own app without a route; the gateway calls its ingress (`app.MLflowModel.invoke`) through
`serve.get_app_handle(app)`. The statistics of every gateway replica meet in one named, detached actor holding a
`gateway_stats.StatsStore`: each replica pushes its changed per-second buckets there (at most once a second), and
`GET <prefix>mlray-gateway/stats` on any replica pushes its own and reads the sum over all of them.
"""
from typing import Any, Dict, Optional

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import Response as HttpResponse

from .gateway_core import Gateway
from .gateway_stats import StatsStore

STATS_ACTOR_NAME = "mlray-gateway-stats"
STATS_ACTOR_NAMESPACE = "mlray"

# No CPU reserved: it only sums numbers. Restarted if it dies (its sums start again from the replicas' next pushes).
StatsActor = ray.remote(num_cpus=0, max_restarts=-1)(StatsStore)


class RayStatsStore:
    """The shared StatsStore actor with gateway_core's async put/collect: got by name, created by the first replica
    that asks (get_if_exists), detached so that it outlives any one replica."""

    def __init__(self):
        self._actor = None

    def _get_actor(self):
        if self._actor is None:
            self._actor = StatsActor.options(name=STATS_ACTOR_NAME, namespace=STATS_ACTOR_NAMESPACE,
                                             lifetime="detached", get_if_exists=True).remote()
        return self._actor

    async def _call(self, method: str, *args):
        try:
            return await getattr(self._get_actor(), method).remote(*args)
        except Exception:
            self._actor = None  # looked up again on the next call (the gateway answers this one with 503)
            raise

    async def put(self, replica_id, buckets, now, window_s):
        await self._call("put", replica_id, buckets, now, window_s)

    async def collect(self, replica_id, buckets, now, window_s):
        return await self._call("collect", replica_id, buckets, now, window_s)


@serve.deployment(name="MLRayGateway")
class MLRayGateway:
    def __init__(self):
        self._handles: Dict[str, Any] = {}
        self._gateway = Gateway(self._call_version, stats_store=RayStatsStore())

    def reconfigure(self, user_config: Optional[Dict[str, Any]]):
        """The routing table; an invalid one raises (Ray reports the failed update) and the old one stays."""
        table = self._gateway.reconfigure(user_config)
        self._handles = {app: h for app, h in self._handles.items() if app in table.apps}

    async def _call_version(self, app: str, body: bytes, content_type: Optional[str]):
        handle = self._handles.get(app)
        if handle is None:  # raises while the app does not exist: the gateway answers 502 naming the version
            handle = self._handles[app] = serve.get_app_handle(app)
        return await handle.invoke.remote(body, content_type)

    async def __call__(self, request: Request):
        response = await self._gateway.handle(request.method, request.url.path, request.headers,
                                              await request.body())
        return HttpResponse(response.body, status_code=response.status, media_type=response.media_type,
                            headers=response.headers)


def build(args: Optional[Dict[str, Any]] = None):
    """The builder MLRay's import_path names; the routing table comes as user_config, not args."""
    return MLRayGateway.bind()

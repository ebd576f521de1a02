using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// The HTTP side of the cluster's Serve proxy (Ray's <c>HTTPProxy</c>, default port 8000): <c>/-/healthz</c>, <c>/-/routes</c>, and
/// every other path to the app whose <c>route_prefix</c> is the longest prefix of it on whole segments, among the apps with an
/// endpoint (<see cref="RayClusterStore.ProxyView"/>); what the app answers is <see cref="ServeDataPlane"/>'s.
/// </summary>
internal sealed class ServeProxy(RayClusterStore store, ServeDataPlane plane)
{
    private const string NotPopulated = "Route table is not populated yet.";
    private static readonly TimeSpan QueuePoll = TimeSpan.FromMilliseconds(20);

    public async Task HandleAsync(HttpContext ctx)
    {
        var view = store.ProxyView();
        if (!view.ServeRunning)
        {
            // Ray starts its proxies with Serve (the first PUT) and stops them with DELETE: nothing listens until then.
            ctx.Items[EmulatorHost.DroppedKey] = true;
            ctx.Abort();
            return;
        }
        var path = ctx.Request.Path.HasValue ? ctx.Request.Path.Value! : "/";
        if (path == "/-/healthz")
        {
            await Json.WriteTextAsync(ctx, view.RouteTablePopulated ? 200 : 503, view.RouteTablePopulated ? "success" : NotPopulated).ConfigureAwait(false);
            return;
        }
        if (path == "/-/routes")
        {
            if (!view.RouteTablePopulated)
            {
                await Json.WriteTextAsync(ctx, 503, NotPopulated).ConfigureAwait(false);
                return;
            }
            var routes = new JsonObject();
            foreach (var endpoint in view.Endpoints) routes[endpoint.Route] = endpoint.App;
            await Json.WriteTextAsync(ctx, 200, Py.JsonDumps(routes), "application/json").ConfigureAwait(false);
            return;
        }

        ServingApp app;
        while (true)
        {
            var endpoint = RoutePrefixes.Longest(path, view.Endpoints, e => e.Route);
            if (endpoint is null)
            {
                await Json.WriteTextAsync(ctx, 404, $"Path '{path}' not found. Ping http://.../-/routes for available routes.").ConfigureAwait(false);
                return;
            }
            if (endpoint.Serving is { } serving)
            {
                app = serving;
                break;
            }
            // An endpoint without a running replica (a new app whose replicas wait to be scheduled): Ray's handle queues the
            // request until one runs, or until the client gives up. Look again until then.
            await Task.Delay(QueuePoll, ctx.RequestAborted).ConfigureAwait(false);
            view = store.ProxyView();
        }

        var pin = ctx.Request.Headers["mlray-version"].ToString().Trim();
        var request = new AppRequest(ctx.Request.Method.ToUpperInvariant(), path, ctx.Request.ContentType,
            ctx.Items[EmulatorHost.BodyBytesKey] as byte[] ?? [], pin.Length == 0 ? null : pin);
        var answer = await plane.CallFromProxyAsync(app, request, ctx.RequestAborted).ConfigureAwait(false);

        var requestId = ctx.Request.Headers["x-request-id"].ToString();
        ctx.Response.Headers["x-request-id"] = requestId.Length > 0 ? requestId : Guid.NewGuid().ToString();
        if (answer.Version is not null) ctx.Response.Headers["mlray-version"] = answer.Version;
        ctx.Response.StatusCode = answer.Status;
        ctx.Response.ContentType = answer.ContentType;
        ctx.Response.ContentLength = answer.Body.Length;
        if (answer.Body.Length > 0) await ctx.Response.Body.WriteAsync(answer.Body, ctx.RequestAborted).ConfigureAwait(false);
    }
}

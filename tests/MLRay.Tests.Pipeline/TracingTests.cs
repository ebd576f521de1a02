using System.Diagnostics;
using MLRay.Emulators.Seed;
using MLRay.ServiceDefaults;
using MLRay.Telemetry;
using MLRay.Tests.Broker;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace MLRay.Tests.Pipeline;

/// <summary>One webhook, one trace: receiver → broker → router → broker → worker → Ray PUT, on real RabbitMQ.</summary>
[Collection("broker")]
public class TracingTests(RabbitMqBroker broker)
{
    [Fact]
    public async Task A_webhooks_receiver_span_router_span_reconcile_and_ray_put_share_one_trace_with_the_delivery_id()
    {
        var spans = new List<Activity>();
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource(TracingExtensions.Sources)
            .AddAspNetCoreInstrumentation()
            .AddHttpClientInstrumentation()
            .AddInMemoryExporter(spans)
            .Build();
        await using var world = await PipelineWorld.StartAsync(broker);
        await world.StartReceiverAsync();
        await world.StartWorkerAsync(["ray-cluster-py312"]);

        SeedModels.Register(world.Emulators.Mlflow, SeedModels.All[0]);
        await PipelineWorld.WaitUntil(() => world.Emulators.Ray312.PutCount > 0, what: "the PUT");
        await Task.Delay(500);
        tracing.ForceFlush();

        List<Activity> Snapshot() { lock (spans) return [.. spans]; }
        var all = Snapshot();
        var put = all.First(a => a.Kind == ActivityKind.Client && (string?)a.GetTagItem("http.request.method") == "PUT"
                                 && ((string?)a.GetTagItem("url.full"))?.Contains("/api/serve/applications/") == true);
        var trace = all.Where(a => a.TraceId == put.TraceId).ToList();
        // The first webhook of the trace started it; later ones in it are MLflow's deliveries for MLRay's own tag writes.
        var received = trace.Where(a => a.Kind == ActivityKind.Server && a.GetTagItem(MLRayTelemetry.DeliveryIdAttribute) is string).MinBy(a => a.StartTimeUtc)!;
        var deliveryId = (string)received.GetTagItem(MLRayTelemetry.DeliveryIdAttribute)!;
        Assert.Contains(world.Emulators.Mlflow.WebhookDeliveries, d => d.DeliveryId == deliveryId);
        Assert.Contains(trace, a => a.Source.Name == MLRayTelemetry.Name && a.DisplayName.StartsWith("route ") && (string?)a.GetTagItem(MLRayTelemetry.DeliveryIdAttribute) == deliveryId);
        var reconcile = trace.First(a => a.Source.Name == MLRayTelemetry.Name && a.DisplayName == "reconcile ray-cluster-py312" && put.StartTimeUtc >= a.StartTimeUtc);
        Assert.Contains(deliveryId, (string)reconcile.GetTagItem(MLRayTelemetry.DeliveryIdAttribute)!);
        Assert.Contains(trace, a => a.Source.Name == MLRayTelemetry.Name && a.Kind == ActivityKind.Producer
                                    && a.DisplayName == "mlray.registry-changed publish" && (string?)a.GetTagItem(MLRayTelemetry.DeliveryIdAttribute) == deliveryId);
        Assert.Contains(trace, a => a.Source.Name == "MassTransit"); // the hops through the broker carry the context

        // The README lists each of MLRay's own spans: by its name, or with its variable last word as <placeholder>.
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var unlisted = trace.Where(a => a.Source.Name == MLRayTelemetry.Name).Select(a => a.DisplayName).Distinct()
            .Where(name => !readme.Contains($"`{name}`", StringComparison.Ordinal)
                           && !System.Text.RegularExpressions.Regex.IsMatch(readme, $@"`{System.Text.RegularExpressions.Regex.Escape(name[..Math.Max(0, name.LastIndexOf(' '))])} <[a-z]+>`"))
            .ToList();
        Assert.True(unlisted.Count == 0, $"spans the README does not list: {string.Join(", ", unlisted)}");
    }
}

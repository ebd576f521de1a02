using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.PackageIndex;
using MLRay.Emulators.Seed;
using MLRay.Pipeline;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Resync;
using MLRay.Pipeline.Routing;

namespace MLRay.Bench;

/// <summary>
/// Issue 18's registry size: N registered models spread evenly over C Ray clusters that differ by Python (3.9, 3.10, …;
/// each model's python_env.yaml names its cluster's), deployed by the processes as they run in production — one
/// <c>mlray-receiver</c> and one <c>mlray-worker</c> per cluster (each also a router, the default) — through RabbitMQ (a
/// throw-away vhost) onto a Ray emulator per cluster. Cold start, a warm reconcile of each cluster, one resync, one more
/// registration, and each process's peak RSS, every figure next to its target.
/// </summary>
public static class ScaleBenchmark
{
    public sealed record Settings(int Models, int Clusters);

    /// <summary>Issue 18's targets.</summary>
    private static readonly TimeSpan ColdStartTarget = TimeSpan.FromMinutes(2);
    private const int ReconcileRequestsTarget = 12;
    private static readonly TimeSpan ReconcileTimeTarget = TimeSpan.FromSeconds(2);
    private const int ResyncRequestsTarget = 12;
    private static readonly TimeSpan RegistrationTarget = TimeSpan.FromSeconds(1);
    private const long WorkerRssTarget = 300_000_000, ReceiverRssTarget = 200_000_000;

    /// <summary>Each cluster's interpreter as its models' python_env.yaml says it (the seed's two, and two of the same era).</summary>
    private static string Python(int cluster) => cluster switch
    {
        0 => "3.9.22",
        1 => "3.10.18",
        2 => "3.11.13",
        3 => "3.12.11",
        _ => $"3.{9 + cluster}.0",
    };

    /// <summary>
    /// A seed model whose pins have wheels for cluster <paramref name="cluster"/>'s Python on the index (numpy 2.3 needs
    /// 3.11, so the 3.9 and 3.10 clusters get the py39 model's numpy 2.0): the pre-flight passes, as for a real team's models.
    /// </summary>
    private static SeedModel Like(int cluster) =>
        (Version.Parse(Python(cluster)) >= new Version(3, 11) ? SeedModels.All[0] : SeedModels.All[1]) with { PythonVersion = Python(cluster) };

    public static async Task RunAsync(Settings settings, Uri broker, TextWriter output, CancellationToken ct)
    {
        using var temp = new TempDirectory(); // disposed last: the services' logs are in it
        var dir = temp.Path;
        await using var vhost = await ThrowAwayVhost.CreateAsync(broker);
        await using var mlflow = await MlflowEmulator.StartAsync();
        // The pre-flight asks this index (the seed's catalogue), as production asks the team's, never pypi.org from here.
        await using var index = await PackageIndexEmulator.StartAsync(ct: ct);
        var clusters = new List<BenchCluster>();
        var services = new List<ServiceProcess>();
        IHost? control = null;
        try
        {
            for (var c = 0; c < settings.Clusters; c++)
            {
                var python = Python(c);
                var minor = string.Join('.', python.Split('.')[..2]);
                clusters.Add(new BenchCluster($"ray-cluster-py{minor.Replace(".", "", StringComparison.Ordinal)}", minor, await PipelineBench.StartRayAsync(python)));
            }
            var expected = new int[settings.Clusters];
            var setup = Stopwatch.StartNew();
            for (var i = 0; i < settings.Models; i++)
            {
                var c = i % settings.Clusters;
                SeedModels.RegisterCopy(mlflow, Like(c), ModelName(i));
                expected[c]++;
            }
            var registered = setup.Elapsed;

            var configFile = Path.Combine(dir, "config.yml");
            var configYaml = await PipelineBench.ConfigYamlAsync(mlflow.BaseUri, clusters, dir, vhost.Uri, ct) + $"package_index: {index.SimpleUri}\n";
            await File.WriteAllTextAsync(configFile, configYaml, ct);
            var config = ConfigLoader.Load(configYaml, BenchEnvironment.Empty);

            // (1) Cold start: the processes start against a full registry with empty caches; the receiver's start-up resync
            // is what deploys them. MLflow's webhooks are on, so the workers' status tags come back as webhooks, as in production.
            var coldClock = Stopwatch.StartNew();
            var workers = await StartAllAsync(services, clusters.Select(c => ServiceProcess.StartAsync("MLRay.Worker", "mlray-worker",
                ["--config", configFile, "--cluster", c.Name], Path.Combine(dir, $"worker-{c.Name}.log"), ct)));
            var receiver = (await StartAllAsync(services, [ServiceProcess.StartAsync("MLRay.Receiver", "mlray-receiver",
                ["--config", configFile], Path.Combine(dir, "receiver.log"), ct)]))[0];
            var started = coldClock.Elapsed;
            PipelineBench.Subscribe(mlflow, receiver.BaseUri);
            await PipelineBench.WaitAsync(() => Task.FromResult(clusters.Select((c, i) => Running(c) >= expected[i]).All(r => r)),
                TimeSpan.FromMinutes(15), () => "every app RUNNING: " + string.Join(", ", clusters.Select((c, i) =>
                    $"{c.Name} {string.Join(" ", c.Ray.StatusCounts().Select(s => $"{s.Key} {s.Value}"))} of {expected[i]}, {c.Ray.PutCount} PUTs")),
                TimeSpan.FromMilliseconds(250));
            var coldStart = coldClock.Elapsed;
            var coldRequests = mlflow.RequestCounts();
            var coldPuts = clusters.Select(c => c.Ray.PutCount).ToList();
            // Then the RUNNING status tags, the webhooks they fire, and what is still queued: until settled.
            await SettledAsync(mlflow, vhost, ct);
            var settled = coldClock.Elapsed;
            var settledRequests = mlflow.RequestCounts();
            var webhooks = mlflow.WebhookDeliveries.Count;

            // A bus of the bench's own (no consumers), to ask for reconciles and to publish a resync as the receiver would.
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.Services.AddMLRayPipeline(config, BenchEnvironment.Empty, new PipelineRoles());
            control = builder.Build();
            await control.StartAsync(ct);
            var dispatcher = control.Services.GetRequiredService<IClusterDispatcher>();
            using var scrape = new HttpClient();

            // (2) A warm reconcile of each cluster, one at a time, asked for directly (the Python's routing key).
            var warmFrom = mlflow.RequestCount;
            var warm = new List<(BenchCluster Cluster, IReadOnlyDictionary<string, int> Requests, TimeSpan Duration, TimeSpan AskedToDone, int RayGets, int RayPuts)>();
            for (var c = 0; c < clusters.Count; c++)
            {
                var (cluster, worker) = (clusters[c], workers[c]);
                var before = mlflow.Requests.Count;
                var rayBefore = cluster.Ray.Requests.Count;
                var (count, sum) = await ReconcileMetricsAsync(scrape, worker, ct);
                var clock = Stopwatch.StartNew();
                await dispatcher.DispatchAsync(new ClusterDeployRequested { RoutingKey = cluster.Python, Reason = "bench: warm reconcile" }, ct);
                await PipelineBench.WaitAsync(async () => (await ReconcileMetricsAsync(scrape, worker, ct)).Count > count, TimeSpan.FromMinutes(1),
                    () => $"a reconcile of {cluster.Name}");
                var askedToDone = clock.Elapsed;
                var (_, sumAfter) = await ReconcileMetricsAsync(scrape, worker, ct);
                var ray = cluster.Ray.Requests.Skip(rayBefore).ToList();
                warm.Add((cluster, mlflow.RequestCounts(before), TimeSpan.FromSeconds(sumAfter - sum), askedToDone,
                    ray.Count(r => r.Method == "GET"), ray.Count(r => r.Method == "PUT")));
            }

            var warmRequests = mlflow.Requests.Skip(warmFrom).ToList();

            // (3) One resync, asked for from here as a receiver's timer (or an operator) would; counted until the pipeline settles again.
            var resyncBefore = mlflow.Requests.Count;
            var resyncPuts = clusters.Select(c => c.Ray.PutCount).ToList();
            var byWorker = await Task.WhenAll(workers.Select(w => MlflowRequestsAsync(scrape, w, ct)));
            await ActivatorUtilities.CreateInstance<ResyncService>(control.Services).RequestAsync(now: true, ct);
            await SettledAsync(mlflow, vhost, ct);
            var resyncRequests = mlflow.RequestCounts(resyncBefore);
            var resyncByWorker = (await Task.WhenAll(workers.Select(w => MlflowRequestsAsync(scrape, w, ct)))).Select((n, i) => n - byWorker[i]).ToList();
            resyncPuts = clusters.Select((c, i) => c.Ray.PutCount - resyncPuts[i]).ToList();

            // (4) One more registration with everything deployed: registered → its cluster's PUT.
            var extra = ModelName(settings.Models);
            var target = clusters[0].Ray;
            var putsBefore = target.Requests.Count;
            var registeredAt = DateTimeOffset.UtcNow;
            var extraBefore = mlflow.Requests.Count;
            SeedModels.RegisterCopy(mlflow, Like(0), extra);
            DateTimeOffset? putAt = null;
            await PipelineBench.WaitAsync(() =>
            {
                putAt = target.Requests.Skip(putsBefore)
                    .FirstOrDefault(r => r is { Method: "PUT", Status: 200 } && r.Body.Contains($"\"{extra}\"", StringComparison.Ordinal))?.At;
                return Task.FromResult(putAt is not null);
            }, TimeSpan.FromSeconds(60), () => $"{extra}'s PUT on {clusters[0].Name}");
            var registrationToPut = putAt!.Value - registeredAt;
            var extraRequests = mlflow.Requests.Count - extraBefore;

            // Where a warm reconcile's time goes: the same code in this process, timed by part, its caches warmed by a first read.
            var reader = control.Services.GetRequiredService<MLRay.Deploy.RegistryReader>();
            await reader.ReadSnapshotAsync(ct);
            var split = await ReconcileBenchmark.SplitAsync(control.Services, config.Clusters[0], ct);

            // (5) Peak RSS of every process, this one (both emulators, the registry's 10,000 models) included.
            // With each service's managed heap after its last GC and what the GC has committed (its /metrics): what is
            // objects, what is the (server) GC's headroom, and what is neither.
            var rss = new List<(string Name, long Bytes, long? Target, string Heap)>();
            foreach (var (service, name, limit) in workers.Select((w, i) => (w, $"mlray-worker {clusters[i].Name}", WorkerRssTarget))
                         .Append((receiver, "mlray-receiver", ReceiverRssTarget)))
                rss.Add((name, service.PeakRssBytes(), limit, await HeapAsync(scrape, service, ct)));
            rss.Add(("mlray-bench (emulators, registry, bus)", ServiceProcess.PeakRssBytes(Environment.ProcessId), null, ""));

            output.WriteLine($"## scale ({settings.Models:N0} models over {settings.Clusters} clusters by Python; mlray-receiver + {settings.Clusters} mlray-worker processes → RabbitMQ → Ray emulators)");
            output.WriteLine();
            output.WriteLine($"Registry seeded in {ReconcileBenchmark.Format(registered)}; processes ready {ReconcileBenchmark.Format(started)} after launch.");
            output.WriteLine();
            output.WriteLine("| figure | measured | target | |");
            output.WriteLine("|---|---|---|---|");
            Row(output, $"cold start: launch → all {settings.Models:N0} RUNNING", ReconcileBenchmark.Format(coldStart), "< 2 min", coldStart < ColdStartTarget);
            Row(output, "cold start: MLflow requests until all RUNNING",
                $"{Total(coldRequests):N0} ({(double)Total(coldRequests) / settings.Models:F1} per model): {ByEndpoint(coldRequests, settings.Models)}", "", null);
            Row(output, "cold start: MLflow requests until settled (RUNNING tags written, queues empty)",
                $"{Total(settledRequests):N0} ({(double)Total(settledRequests) / settings.Models:F1} per model) in {ReconcileBenchmark.Format(settled)}; {webhooks:N0} webhooks sent", "", null);
            Row(output, "cold start: Ray PUTs per cluster", string.Join(", ", clusters.Select((c, i) => $"{c.Name} {coldPuts[i]}")), "", null);
            foreach (var w in warm)
            {
                Row(output, $"warm reconcile {w.Cluster.Name}: registry requests", $"{Total(w.Requests)}: {ByEndpoint(w.Requests, null)}; Ray GET {w.RayGets}, PUT {w.RayPuts}",
                    $"≤ {ReconcileRequestsTarget}", Total(w.Requests) <= ReconcileRequestsTarget);
                Row(output, $"warm reconcile {w.Cluster.Name}: time (asked → reconciled)", $"{ReconcileBenchmark.Format(w.Duration)} ({ReconcileBenchmark.Format(w.AskedToDone)})",
                    "< 2 s", w.Duration < ReconcileTimeTarget);
            }
            var perCluster = (double)Total(resyncRequests) / settings.Clusters;
            Row(output, "one resync: MLflow requests per cluster",
                $"{perCluster:N1} ({Total(resyncRequests):N0} in all: {ByEndpoint(resyncRequests, null)}; by worker process: " +
                $"{string.Join(", ", clusters.Select((c, i) => $"{c.Name} {resyncByWorker[i]:N0}"))}; Ray PUTs {resyncPuts.Sum()})",
                $"≤ {ResyncRequestsTarget}", perCluster <= ResyncRequestsTarget);
            Row(output, $"one more registration ({settings.Models:N0} deployed) → its cluster's PUT",
                $"{registrationToPut.TotalMilliseconds:F0} ms ({extraRequests:N0} MLflow requests meanwhile)", "< 1 s", registrationToPut < RegistrationTarget);
            foreach (var (name, bytes, limit, heap) in rss)
                Row(output, $"peak RSS, {name}", Mb(bytes) + heap, limit is { } l ? $"< {Mb(l)}" : "", limit is { } m ? bytes < m : null);
            Row(output, $"warm reconcile {clusters[0].Name}, split (same code in the bench process)", split, "", null);
            // Where the emulators' time went (their own request logs: arrival → answer), to tell their cost from MLRay's.
            Row(output, "MLflow emulator: answer time during the warm reconciles", AnswerTimes(warmRequests, r => MlflowEmulator.EndpointOf(r.Path)), "", null);
            Row(output, "MLflow emulator: answer time by endpoint (whole run)", AnswerTimes(mlflow.Requests, r => MlflowEmulator.EndpointOf(r.Path)), "", null);
            Row(output, "Ray emulators: answer time (whole run)", AnswerTimes(clusters.SelectMany(c => c.Ray.Requests), r => r.Method) +
                $"; largest PUT {Mb(clusters.SelectMany(c => c.Ray.PutBodies).Max(b => (long?)b.Length) ?? 0)}", "", null);
            output.WriteLine();
        }
        finally
        {
            if (control is not null)
            {
                await control.StopAsync(CancellationToken.None);
                control.Dispose();
            }
            foreach (var service in services) await service.DisposeAsync();
            foreach (var cluster in clusters) await cluster.Ray.DisposeAsync();
        }
    }

    private static string ModelName(int i) => $"scale-model-{i:D5}";

    private static int Running(BenchCluster cluster) => cluster.Ray.StatusCounts().GetValueOrDefault("RUNNING");

    /// <summary>Starts the processes together; each one started is added to <paramref name="started"/> (to be stopped), even when another fails.</summary>
    private static async Task<List<ServiceProcess>> StartAllAsync(List<ServiceProcess> started, IEnumerable<Task<ServiceProcess>> starting)
    {
        var tasks = starting.ToList();
        try { await Task.WhenAll(tasks); }
        finally { started.AddRange(tasks.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result)); }
        return tasks.Select(t => t.Result).ToList();
    }

    /// <summary>
    /// Returns once the pipeline has nothing left to do: no message in any queue that work goes through (dead letters and
    /// parked models stay), no webhook delivery in flight, and no MLflow request for longer than the broker's statistics lag.
    /// </summary>
    private static async Task SettledAsync(MlflowEmulator mlflow, ThrowAwayVhost vhost, CancellationToken ct)
    {
        var quiet = TimeSpan.FromSeconds(6);
        var last = -1;
        var since = Stopwatch.StartNew();
        var overall = Stopwatch.StartNew();
        while (true)
        {
            if (overall.Elapsed > TimeSpan.FromMinutes(20)) throw new TimeoutException("the pipeline never settled");
            var now = mlflow.RequestCount;
            if (now != last) (last, since) = (now, Stopwatch.StartNew());
            else if (since.Elapsed >= quiet && await vhost.MessagesAsync(Pending) == 0)
            {
                await mlflow.WaitForWebhookDeliveriesAsync(TimeSpan.FromMinutes(5));
                if (mlflow.RequestCount == last) return;
            }
            await Task.Delay(250, ct);
        }

        static bool Pending(string queue) => !(queue.EndsWith(".dead-letters", StringComparison.Ordinal) || queue.EndsWith("_error", StringComparison.Ordinal)
            || queue.EndsWith("_skipped", StringComparison.Ordinal) || queue == PipelineTopology.UnroutableQueue);
    }

    /// <summary>The worker's reconciles so far and their total duration (its <c>mlray_reconcile_duration</c> histogram).</summary>
    private static async Task<(double Count, double Seconds)> ReconcileMetricsAsync(HttpClient http, ServiceProcess worker, CancellationToken ct) =>
        (await PipelineBench.MetricAsync(http, worker.BaseUri, "mlray_reconcile_duration_count", "", ct),
         await PipelineBench.MetricAsync(http, worker.BaseUri, "mlray_reconcile_duration_sum", "", ct));

    /// <summary>Requests the process has sent MLflow (every attempt), from its <c>mlray_http_request_duration</c> histogram.</summary>
    private static Task<double> MlflowRequestsAsync(HttpClient http, ServiceProcess service, CancellationToken ct) =>
        PipelineBench.MetricAsync(http, service.BaseUri, "mlray_http_request_duration_count", "server=\"mlflow\"", ct);

    /// <summary>At the end: " (GC heap 45 MB, committed 120 MB)".</summary>
    private static async Task<string> HeapAsync(HttpClient http, ServiceProcess service, CancellationToken ct)
    {
        var heap = await PipelineBench.MetricAsync(http, service.BaseUri, "dotnet_gc_last_collection_heap_size", "", ct);
        var committed = await PipelineBench.MetricAsync(http, service.BaseUri, "dotnet_gc_last_collection_memory_committed_size", "", ct);
        return $" (at the end: GC heap {Mb((long)heap)}, committed {Mb((long)committed)})";
    }

    private static int Total(IReadOnlyDictionary<string, int> counts) => counts.Values.Sum();

    /// <summary>The biggest endpoints first, with their count per model when <paramref name="models"/> is given.</summary>
    private static string ByEndpoint(IReadOnlyDictionary<string, int> counts, int? models) =>
        string.Join(", ", counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => $"{c.Key} {c.Value:N0}" + (models is { } n ? $" ({(double)c.Value / n:0.##}/model)" : "")));

    /// <summary>Per group, the most requests first: count, mean and max time from arrival to answer.</summary>
    private static string AnswerTimes(IEnumerable<MLRay.Emulators.RecordedRequest> requests, Func<MLRay.Emulators.RecordedRequest, string> group) =>
        string.Join(", ", requests.GroupBy(group).OrderByDescending(g => g.Count()).Select(g =>
        {
            var ms = g.Select(r => (r.AnsweredAt - r.At).TotalMilliseconds).ToList();
            return $"{g.Key} {ms.Count:N0} × {ms.Average():F1} ms (max {ms.Max():F0})";
        }));

    private static string Mb(long bytes) => $"{bytes / 1_000_000.0:F0} MB";

    private static void Row(TextWriter output, string figure, string measured, string target, bool? met) =>
        output.WriteLine($"| {figure} | {measured} | {target} | {met switch { true => "met", false => "**missed**", null => "" }} |");
}

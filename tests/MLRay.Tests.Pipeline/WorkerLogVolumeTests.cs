using System.Text.RegularExpressions;
using MLRay.Emulators.Seed;
using MLRay.Tests.Broker;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// Issue 16, defect 5: what a real <c>mlray-worker</c> (its production logging, default level) writes under a burst of
/// 200 registrations. At Information a worker logs decisions — one line per reconcile, per routed message, per status
/// change — not transport: HttpClient's request lines and Polly's attempt lines are Debug, failures and retries Warning.
/// </summary>
[Collection("broker")]
public class WorkerLogVolumeTests(RabbitMqBroker broker)
{
    private const int Burst = 200;
    private const string Cluster = "ray-cluster-py312";

    /// <summary>One CLEF line: its level (Information when CLEF leaves <c>@l</c> out), category and properties.</summary>
    private sealed record LogLine(string Level, string Category, string Template, JsonObject Json);

    [Fact]
    public async Task A_burst_of_200_registrations_writes_under_1000_lines_one_per_decision_and_no_request_lines_at_information()
    {
        var started = DateTimeOffset.UtcNow;
        await using var world = await PipelineWorld.StartAsync(broker);
        using var worker = WorkerProcess.Start(world.ConfigPath, [Cluster], router: true);
        await worker.WaitReadyAsync();
        // The resync the receiver asks for at start-up (run by this worker's router: one sweep) is over before the burst: it is not the burst's.
        await world.StartReceiverAsync();
        await PipelineWorld.WaitUntil(() => worker.Output.Contains("Resync asked by"), what: "the start-up resync");
        var ray = world.Emulators.Ray312;
        ray.Options.TotalCpus = 10_000; // room for every app (half a CPU each)
        // The worker's first GET of Ray is a 503: retried, and the retry must still be logged (at Warning).
        ray.Options.FailNextGets = 1;

        var startUp = Parse(worker.Output).Count;
        var models = Enumerable.Range(0, Burst).Select(i => $"log-burst-{i:D3}").ToList();
        foreach (var app in models) SeedModels.RegisterCopy(world.Emulators.Mlflow, SeedModels.All[0], app);

        // Done: every app runs, and each version's status tag says so (the reconciles after the PUT wrote it).
        var mlflow = world.Emulators.Mlflow;
        var statusKey = MLRay.Deploy.MLRayTags.Key(Cluster, MLRay.Deploy.MLRayTags.Status);
        string Status(string m) => mlflow.GetModelVersionTags($"{m}.staging", "1").GetValueOrDefault(statusKey) ?? "(none)";
        try
        {
            await PipelineWorld.WaitUntil(() => models.All(m => Status(m) == MLRay.Deploy.ModelStatus.Running),
                seconds: 40, what: $"all {Burst} versions tagged {MLRay.Deploy.ModelStatus.Running} on {Cluster}");
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}: {string.Join(", ", models.GroupBy(Status).Select(g => $"{g.Key}×{g.Count()}"))}; " +
                        $"{ray.PutCount} PUTs\n{Summary(Parse(worker.Output))}");
        }
        // Then quiet: the status-tag webhooks that follow are routed and reconciled too; wait until the log stops growing.
        await WaitQuietAsync(worker, TimeSpan.FromSeconds(2), deadline: started + TimeSpan.FromSeconds(50));

        using var http = new HttpClient { BaseAddress = worker.Probes };
        var metrics = await http.GetStringAsync("/metrics");
        var lines = Parse(worker.Output);
        var summary = Summary(lines);

        // Fewer than 1,000 lines for the whole burst (19,000 before: 95% request start/end/attempt lines).
        Assert.True(lines.Count < 1000, $"{lines.Count} lines for a burst of {Burst}:\n{summary}");

        // No transport at Information: HttpClient's start/end lines and Polly's attempt lines are Debug.
        var transport = lines.Where(l => l.Level == "Information" && (l.Category.StartsWith("System.Net.Http.HttpClient") || l.Category.StartsWith("Polly"))).ToList();
        Assert.True(transport.Count == 0, $"{transport.Count} request lines at Information, e.g. {transport.FirstOrDefault()?.Json.ToJsonString()}\n{summary}");

        // One "Reconciled …" line per reconcile (the worker's own count on /metrics), carrying its decisions.
        var reconciled = lines.Where(l => l.Template.StartsWith("Reconciled {Cluster}")).ToList();
        var reconciles = Regex.Matches(metrics, $@"^mlray_reconciles\w*\{{[^}}]*cluster=""{Cluster}""[^}}]*outcome=""(applied|unchanged)""[^}}]*\}} (\d+)", RegexOptions.Multiline)
            .Sum(m => long.Parse(m.Groups[2].Value));
        Assert.True(reconciles > 0, "no reconcile counted on /metrics:\n" + string.Join("\n", metrics.Split('\n').Where(l => l.StartsWith("mlray_reconciles"))));
        Assert.Equal(reconciles, reconciled.Count);
        var decisions = string.Join(", ", reconciled.Select(l => (string?)l.Json["Decisions"]));
        Assert.All(models, m => Assert.Contains($"{m}.staging/1={MLRay.Deploy.AttemptPhase.Running}", decisions));

        // The retried 503 is still told, at Warning: the attempt that failed and the retry.
        Assert.Contains(lines, l => l is { Level: "Warning", Category: "Polly" } && (bool?)l.Json["Handled"] == true && (int?)l.Json["Result"] == 503);
        Assert.Contains(lines, l => l is { Level: "Warning", Category: "Polly" } && (string?)l.Json["EventName"] == "OnRetry" && (int?)l.Json["Result"] == 503);

        // MassTransit tells its start-up (endpoints configured, bus started) and nothing per message.
        var massTransit = lines.Skip(startUp).Where(l => l.Category.StartsWith("MassTransit")).ToList();
        Assert.True(massTransit.Count == 0, $"MassTransit during the burst:\n{string.Join("\n", massTransit.Select(l => l.Json.ToJsonString()))}");
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(60), $"took {DateTimeOffset.UtcNow - started}");
    }

    private static async Task WaitQuietAsync(WorkerProcess worker, TimeSpan quiet, DateTimeOffset deadline)
    {
        var length = worker.Output.Length;
        var since = DateTimeOffset.UtcNow;
        while (DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(200);
            var now = worker.Output.Length;
            if (now != length) (length, since) = (now, DateTimeOffset.UtcNow);
            else if (DateTimeOffset.UtcNow - since >= quiet) return;
        }
    }

    private static List<LogLine> Parse(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
    {
        // Every stdout line is one CLEF event; anything else (stderr) counts as a line too.
        if (!line.StartsWith('{')) return new LogLine("Information", "(not CLEF)", line, new JsonObject { ["@mt"] = line });
        var json = JsonNode.Parse(line)!.AsObject();
        return new LogLine((string?)json["@l"] ?? "Information", (string?)json["SourceContext"] ?? "", (string?)json["@mt"] ?? "", json);
    }).ToList();

    /// <summary>Lines by level and category, most first: what a failure message shows.</summary>
    private static string Summary(List<LogLine> lines) => string.Join("\n", lines
        .GroupBy(l => (l.Level, Category: Regex.Replace(l.Category, @"HttpClient\.[^.]+\.", "HttpClient.*.")))
        .OrderByDescending(g => g.Count()).Select(g => $"{g.Count(),6} {g.Key.Level,-11} {g.Key.Category}: {g.First().Template}"));
}

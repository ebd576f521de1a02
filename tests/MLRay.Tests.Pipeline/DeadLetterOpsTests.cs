using MLRay.Deploy;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Routing;
using MLRay.Pipeline.Topology;
using MLRay.Tests.Broker;
using MLRay.Tests.Integration;
using RabbitMQ.Client;

namespace MLRay.Tests.Pipeline;

/// <summary>
/// <c>mlray dlq …</c> (as a process), the receiver's ops API (over HTTP) and its dead-letter metrics, on a real RabbitMQ.
/// Letters are put in the queues the way workers and the router do: through the pipeline's own bus
/// (<see cref="IDeadLetters"/>, <see cref="IClusterDispatcher.ParkAsync"/>).
/// </summary>
[Collection("broker")]
public sealed class DeadLetterOpsTests(RabbitMqBroker broker)
{
    private const string Py39 = "ray-cluster-py39";
    private const string Py312 = "ray-cluster-py312";
    private const string OpsToken = PipelineWorld.OpsToken;

    /// <summary>The pipeline world plus a bus-only host (no consumers) that publishes as the worker and router do.</summary>
    private sealed class World(PipelineWorld pipeline, IHost bus) : IAsyncDisposable
    {
        public PipelineWorld Pipeline => pipeline;
        public string Config => pipeline.ConfigPath;

        public async Task<ModelDeadLettered> DeadLetterAsync(string cluster, string model, string version = "1", string failureClass = FailureClass.Install,
            string? message = null)
        {
            var now = DateTimeOffset.UtcNow;
            var letter = new ModelDeadLettered
            {
                Id = Guid.NewGuid().ToString("N"), Cluster = cluster, RegisteredModel = model, Version = version, App = model.Replace(".staging", ""),
                FailureClass = failureClass, Message = message ?? $"pip: No matching distribution found for {model}", Attempts = 3,
                FirstFailure = now.AddMinutes(-20), LastFailure = now, DeliveryIds = ["delivery-" + model],
            };
            await bus.Services.GetRequiredService<IDeadLetters>().PublishAsync(letter, CancellationToken.None);
            return letter;
        }

        public Task ParkAsync(string model, string reason) => bus.Services.GetRequiredService<IClusterDispatcher>()
            .ParkAsync(new ModelUnroutable { RegisteredModel = model, Version = "1", Python = "3.10.4", Reason = reason }, CancellationToken.None);

        /// <summary>Exact ready-message count of a queue (a passive declare; the management API's figure lags).</summary>
        public Task<uint> MessageCountAsync(string queue) => OnChannelAsync(async c => (await c.QueueDeclarePassiveAsync(queue)).MessageCount);

        public Task DeleteQueueAsync(string queue) => OnChannelAsync(c => c.QueueDeleteAsync(queue));

        private async Task<T> OnChannelAsync<T>(Func<IChannel, Task<T>> use)
        {
            await using var connection = await RabbitMqEndpoint.Parse(pipeline.BrokerUri).ConnectionFactory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            return await use(channel);
        }

        public async ValueTask DisposeAsync() => await pipeline.DisposeAsync();
    }

    private async Task<World> StartAsync(bool opsToken = true, string topLevelKeys = "")
    {
        var keys = opsToken ? await PipelineWorld.OpsTokenKeyAsync() : "";
        // Indented lines continue the receiver section that extraYaml follows; the top-level keys come after.
        var pipeline = await PipelineWorld.StartAsync(broker, extraYaml: keys + "\n" + topLevelKeys);
        var bus = await pipeline.StartWorkerAsync([], router: false);
        return new World(pipeline, bus);
    }

    private static async Task<JsonNode> ListJsonAsync(World world, params string[] cluster)
    {
        var (code, stdout, stderr) = await Programs.RunMlray(["dlq", "list", world.Config, .. cluster, "--output", "json"]);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        return JsonNode.Parse(stdout)!;
    }

    private static List<string> Ids(JsonNode list, string cluster) =>
        list["clusters"]!.AsArray().Single(c => (string)c!["cluster"]! == cluster)!["dead_letters"]!.AsArray().Select(l => (string)l!["id"]!).ToList();

    [Fact]
    public async Task Listing_twice_shows_the_same_letters_in_order_and_a_replay_afterwards_reaches_only_the_letters_cluster()
    {
        await using var world = await StartAsync();
        var letters = new List<ModelDeadLettered>();
        foreach (var model in new[] { "a.staging", "b.staging", "c.staging" }) letters.Add(await world.DeadLetterAsync(Py39, model));
        var other = await world.DeadLetterAsync(Py312, "d.staging");
        await world.ParkAsync("e.staging", "no cluster serves Python 3.10.4");
        await world.ParkAsync("f.staging", "python_env.yaml: not found");

        var first = await ListJsonAsync(world);
        var second = await ListJsonAsync(world);

        Assert.Equal(letters.Select(l => l.Id), Ids(first, Py39));
        Assert.Equal(Ids(first, Py39), Ids(second, Py39));
        Assert.Equal([other.Id], Ids(second, Py312));
        Assert.Equal(first.ToJsonString(), second.ToJsonString());
        Assert.Equal(["e.staging", "f.staging"], second["unroutable"]!.AsArray().Select(u => (string)u!["registered_model"]!));
        Assert.Equal("no cluster serves Python 3.10.4", (string)second["unroutable"]![0]!["reason"]!);
        var (textCode, text, _) = await Programs.RunMlray("dlq", "list", world.Config);
        Assert.Equal(0, textCode);
        Assert.Contains(letters[1].Id, text);
        Assert.Contains("f.staging", text);
        Assert.Equal(3u, await world.MessageCountAsync(PipelineTopology.DeadLetterQueue(Py39)));

        var (code, stdout, stderr) = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--id", letters[1].Id);

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains($"replayed {letters[1].Id}", stdout);
        Assert.Equal([letters[0].Id, letters[2].Id], Ids(await ListJsonAsync(world, Py39), Py39));
        Assert.Equal(1u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));
        Assert.Equal(0u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py312)));
        Assert.Equal([other.Id], Ids(await ListJsonAsync(world, Py312), Py312));

        // The replay is a message MassTransit's worker consumes as it is: it arrives with the letter's id to reset.
        var worker = await world.Pipeline.StartWorkerAsync([Py39], router: false);
        await PipelineWorld.WaitUntil(() => PipelineWorld.Journal(worker).Entries.Any(), 30, "the py39 worker reconciles the replay");
        var request = Assert.Single(PipelineWorld.Journal(worker).Entries.SelectMany(e => e.Requests));
        Assert.Equal(letters[1].Id, request.ReplayOf);
        Assert.Equal("b.staging", request.RegisteredModel);
        Assert.Equal("1", request.Version);
        Assert.Equal("replay", request.Reason);
    }

    [Fact]
    public async Task After_fixing_the_cause_dlq_replay_deploys_the_dead_lettered_version_and_its_letter_is_gone()
    {
        await using var world = await StartAsync(opsToken: false, topLevelKeys: "retry: {attempts: 2, delays: [1s]}");
        await world.Pipeline.StartReceiverAsync();
        await world.Pipeline.StartWorkerAsync([Py39]);
        const string arm = "iris_classifier-py39-catboost11.staging";
        var store = new DeadLetterStore(RabbitMqEndpoint.Parse(world.Pipeline.BrokerUri));
        string Status() => world.Pipeline.Emulators.Mlflow.GetModelVersionTags(arm, "1").GetValueOrDefault($"mlray.{Py39}.status") ?? "";

        world.Pipeline.Emulators.RegisterSeed();   // the ARM cluster cannot install catboost 1.1: two attempts, then a letter
        IReadOnlyList<DeadLetterEntry> letters = [];
        for (var deadline = DateTime.UtcNow.AddSeconds(90); letters.Count == 0; await Task.Delay(300))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no dead letter within 90 s; status {Status()}");
            letters = await store.ListAsync(Py39, CancellationToken.None);
        }
        var letter = Assert.Single(letters).Letter!;
        Assert.Equal(arm, letter.RegisteredModel);
        Assert.Equal(2, letter.Attempts);
        Assert.Contains("No matching distribution found for catboost==1.1", letter.Message);

        await PipelineWorld.WaitUntil(() => Status() == "FAILED", 30, "the FAILED tag after the letter");
        world.Pipeline.Emulators.Ray39.Options.Architecture = "x86_64";   // ops fix the cause; nothing retries until the replay
        var (code, stdout, stderr) = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--model", arm);

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        await PipelineWorld.WaitUntil(() => Status() == "RUNNING", 60, $"{arm} RUNNING after the replay");
        Assert.Empty(Ids(await ListJsonAsync(world, Py39), Py39));
        var again = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--id", letter.Id);
        Assert.Equal(1, again.ExitCode);   // the letter is gone: nothing to replay a second time
    }

    [Fact]
    public async Task Replay_by_model_and_all_purge_by_id_and_all_and_argument_errors()
    {
        await using var world = await StartAsync();
        var m1v1 = await world.DeadLetterAsync(Py39, "m1.staging", "1");
        var m2 = await world.DeadLetterAsync(Py39, "m2.staging", "1", FailureClass.Permanent);
        var m1v2 = await world.DeadLetterAsync(Py39, "m1.staging", "2");
        var m3 = await world.DeadLetterAsync(Py39, "m3.staging", "1");

        var (code, stdout, stderr) = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--model", "m1.staging");
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains(m1v1.Id, stdout);
        Assert.Contains(m1v2.Id, stdout);
        Assert.Equal([m2.Id, m3.Id], Ids(await ListJsonAsync(world, Py39), Py39));
        Assert.Equal(2u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));

        var missing = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--id", "no-such-letter");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no dead letter 'no-such-letter'", missing.Stderr);
        var none = await Programs.RunMlray("dlq", "replay", world.Config, Py39);
        Assert.Equal(2, none.ExitCode);
        var both = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--all", "--model", "m2.staging");
        Assert.Equal(2, both.ExitCode);
        var unknownCluster = await Programs.RunMlray("dlq", "list", world.Config, "ray-cluster-py311");
        Assert.Equal(2, unknownCluster.ExitCode);
        Assert.Contains("no cluster named 'ray-cluster-py311'", unknownCluster.Stderr);

        // No terminal to confirm on (stdout is a pipe): refused, nothing removed.
        var unconfirmed = await Programs.RunMlray("dlq", "purge", world.Config, Py39, "--id", m2.Id);
        Assert.Equal(2, unconfirmed.ExitCode);
        Assert.StartsWith("argument error: --yes: ", unconfirmed.Stderr);   // as the README promises: an argument, not the config
        var unconfirmedAll = await Programs.RunMlray("dlq", "purge", world.Config, Py39, "--all");
        Assert.Equal(2, unconfirmedAll.ExitCode);
        Assert.StartsWith("argument error: --yes: ", unconfirmedAll.Stderr);
        Assert.Equal([m2.Id, m3.Id], Ids(await ListJsonAsync(world, Py39), Py39));

        var purged = await Programs.RunMlray("dlq", "purge", world.Config, Py39, "--id", m2.Id, "--yes");
        Assert.True(purged.ExitCode == 0, purged.Stdout + purged.Stderr);
        Assert.Equal([m3.Id], Ids(await ListJsonAsync(world, Py39), Py39));
        Assert.Equal(2u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));   // a purge publishes nothing

        var replayAll = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--all");
        Assert.True(replayAll.ExitCode == 0, replayAll.Stdout + replayAll.Stderr);
        Assert.Contains(m3.Id, replayAll.Stdout);
        await world.DeadLetterAsync(Py39, "m4.staging");
        var purgeAll = await Programs.RunMlray("dlq", "purge", world.Config, Py39, "--all", "--yes");
        Assert.True(purgeAll.ExitCode == 0, purgeAll.Stdout + purgeAll.Stderr);
        Assert.Empty(Ids(await ListJsonAsync(world, Py39), Py39));
        Assert.Equal(3u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));
    }

    [Fact]
    public async Task A_replay_the_broker_cannot_deliver_keeps_its_letter_and_exits_3()
    {
        await using var world = await StartAsync(opsToken: false);
        var letter = await world.DeadLetterAsync(Py39, "a.staging");
        await world.DeleteQueueAsync(PipelineTopology.ClusterQueue(Py39));

        var (code, stdout, stderr) = await Programs.RunMlray("dlq", "replay", world.Config, Py39, "--all");

        Assert.True(code == 3, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains($"no queue {PipelineTopology.ClusterQueue(Py39)} took the replay", stderr);
        Assert.Equal([letter.Id], Ids(await ListJsonAsync(world, Py39), Py39));
    }

    /// <summary><c>mlray</c> on a pseudo-terminal (util-linux <c>script</c>), typing <paramref name="keys"/> (Enter is <c>\r</c> on a terminal): what an operator sees.</summary>
    private static async Task<(int ExitCode, string Output)> RunMlrayOnTerminalAsync(string keys, params string[] args)
    {
        var command = string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "mlray.dll") }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''") + "'"));
        var start = new System.Diagnostics.ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-q", "-e", "-c", command, "/dev/null" }) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        await Task.Delay(TimeSpan.FromSeconds(3));   // the prompt is up (typing earlier is buffered by the terminal anyway)
        await process.StandardInput.WriteAsync(keys);
        await process.StandardInput.FlushAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mlray {string.Join(' ', args)} on a terminal still ran after 60 s: {await output}");
        }
        return (process.ExitCode, await output);
    }

    [Fact]
    public async Task Purge_on_a_terminal_lists_the_letters_and_removes_them_only_after_yes()
    {
        await using var world = await StartAsync(opsToken: false);
        var a = await world.DeadLetterAsync(Py39, "a.staging");
        var b = await world.DeadLetterAsync(Py39, "b.staging");

        var (declined, declinedOutput) = await RunMlrayOnTerminalAsync("n\r", "dlq", "purge", world.Config, Py39, "--id", a.Id);
        Assert.True(declined == 0, declinedOutput);
        Assert.Contains(a.Id, declinedOutput);
        Assert.Contains("Purge these 1 letter(s)", declinedOutput);
        Assert.Equal([a.Id, b.Id], Ids(await ListJsonAsync(world, Py39), Py39));

        var (confirmed, confirmedOutput) = await RunMlrayOnTerminalAsync("y\r", "dlq", "purge", world.Config, Py39, "--id", a.Id);
        Assert.True(confirmed == 0, confirmedOutput);
        Assert.Matches($"purged \\S*{a.Id}", confirmedOutput);   // on a terminal the id is bold: ANSI codes around it
        Assert.Equal([b.Id], Ids(await ListJsonAsync(world, Py39), Py39));
    }

    [Fact]
    public async Task Show_prints_the_whole_letter_with_rays_full_multi_line_message()
    {
        await using var world = await StartAsync();
        var rayText = string.Join("\n", Enumerable.Range(1, 80).Select(i => $"  line {i}: pip install output that Ray keeps in full …"))
                      + "\nERROR: No matching distribution found for catboost==1.1";
        var letter = await world.DeadLetterAsync(Py39, "iris.staging", "7", message: rayText);

        var (code, stdout, stderr) = await Programs.RunMlray("dlq", "show", world.Config, Py39, letter.Id);
        var (jsonCode, json, _) = await Programs.RunMlray("dlq", "show", world.Config, Py39, letter.Id, "--output", "json");

        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        Assert.Contains(rayText, stdout.ReplaceLineEndings("\n"));
        Assert.Contains("registered_model: iris.staging", stdout);
        Assert.Contains("attempts: 3", stdout);
        Assert.Contains("delivery_ids: delivery-iris.staging", stdout);
        Assert.Equal(0, jsonCode);
        var node = JsonNode.Parse(json)!;
        Assert.Equal(rayText, (string)node["message"]!);
        Assert.Equal("7", (string)node["version"]!);
        Assert.Equal(FailureClass.Install, (string)node["failure_class"]!);
        var missing = await Programs.RunMlray("dlq", "show", world.Config, Py39, "nope");
        Assert.Equal(1, missing.ExitCode);
    }

    [Fact]
    public async Task Concurrent_readers_take_turns_so_each_sees_every_letter_in_order()
    {
        await using var world = await StartAsync(opsToken: false);
        var ids = new List<string>();
        for (var i = 0; i < 20; i++) ids.Add((await world.DeadLetterAsync(Py39, $"m{i}.staging")).Id);
        var store = new DeadLetterStore(RabbitMqEndpoint.Parse(world.Pipeline.BrokerUri));

        // Operators listing while metrics scrape: without the lock, a reader would miss what another holds unacked.
        var lists = Enumerable.Range(0, 6).Select(_ => store.ListAsync(Py39, CancellationToken.None)).ToList();
        var scrapes = Enumerable.Range(0, 6).Select(_ => store.CensusAsync(Py39, 1000, CancellationToken.None)).ToList();
        await Task.WhenAll(lists.Cast<Task>().Concat(scrapes));

        foreach (var list in lists) Assert.Equal(ids, (await list).Select(e => e.Id));
        // A scrape that finds the queue held gives up (null) rather than wait; one that ran saw all 20.
        Assert.All(scrapes.Select(s => s.Result).OfType<DeadLetterCensus>(), c => Assert.Equal(20, c.ByClass[FailureClass.Install]));
        // And one that finds the queue free (nobody reads it now) counts all 20 too.
        Assert.Equal(20, (await store.CensusAsync(Py39, 1000, CancellationToken.None))!.ByClass[FailureClass.Install]);
        Assert.Equal(ids, Ids(await ListJsonAsync(world, Py39), Py39));
    }

    [Fact]
    public async Task An_unreachable_broker_is_exit_3()
    {
        await using var world = await StartAsync(opsToken: false);
        var config = await File.ReadAllTextAsync(world.Config);
        var unreachable = Path.Combine(Path.GetDirectoryName(world.Config)!, "unreachable.yml");
        await File.WriteAllTextAsync(unreachable, config.Replace(world.Pipeline.BrokerUri.ToString(), "amqp://guest:guest@127.0.0.1:1/"));

        var (code, _, stderr) = await Programs.RunMlray("dlq", "list", unreachable);

        Assert.Equal(3, code);
        Assert.Contains("RabbitMQ at", stderr);
        Assert.DoesNotContain("guest:guest", stderr);
    }

    [Fact]
    public async Task Ops_api_needs_the_bearer_token_and_lists_shows_replays_and_purges_without_logging_it()
    {
        await using var world = await StartAsync();
        var log = new StringWriter();
        await world.Pipeline.StartReceiverAsync(registerWebhook: false, log: TextWriter.Synchronized(log));
        var keep = await world.DeadLetterAsync(Py39, "keep.staging");
        var replay = await world.DeadLetterAsync(Py39, "replay.staging");
        var purge = await world.DeadLetterAsync(Py39, "purge.staging");
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };
        HttpRequestMessage Request(HttpMethod method, string path, string? token, object? body = null)
        {
            var request = new HttpRequestMessage(method, path);
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (body is not null) request.Content = JsonContent.Create(body);
            return request;
        }

        using (var none = await http.SendAsync(Request(HttpMethod.Get, "/ops/dead-letters", null)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        }
        using (var wrong = await http.SendAsync(Request(HttpMethod.Get, "/ops/dead-letters", OpsToken + "x")))
            Assert.Equal(HttpStatusCode.Forbidden, wrong.StatusCode);
        using (var wrongReplay = await http.SendAsync(Request(HttpMethod.Post, $"/ops/dead-letters/{Py39}/replay", "nope", new { all = true })))
            Assert.Equal(HttpStatusCode.Forbidden, wrongReplay.StatusCode);
        using (var noPurge = await http.SendAsync(Request(HttpMethod.Delete, $"/ops/dead-letters/{Py39}/{purge.Id}", null)))
            Assert.Equal(HttpStatusCode.Unauthorized, noPurge.StatusCode);

        using (var list = await http.SendAsync(Request(HttpMethod.Get, $"/ops/dead-letters?cluster={Py39}", OpsToken)))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Equal([keep.Id, replay.Id, purge.Id], Ids(JsonNode.Parse(await list.Content.ReadAsStringAsync())!, Py39));
        }
        using (var show = await http.SendAsync(Request(HttpMethod.Get, $"/ops/dead-letters/{Py39}/{replay.Id}", OpsToken)))
        {
            Assert.Equal(HttpStatusCode.OK, show.StatusCode);
            Assert.Equal(replay.Message, (string)JsonNode.Parse(await show.Content.ReadAsStringAsync())!["message"]!);
        }
        using (var badBody = await http.SendAsync(Request(HttpMethod.Post, $"/ops/dead-letters/{Py39}/replay", OpsToken, new { all = true, model = "x" })))
            Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        using (var unknown = await http.SendAsync(Request(HttpMethod.Get, "/ops/dead-letters?cluster=ray-cluster-py311", OpsToken)))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using (var replayed = await http.SendAsync(Request(HttpMethod.Post, $"/ops/dead-letters/{Py39}/replay", OpsToken, new { ids = new[] { replay.Id } })))
        {
            Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
            var body = JsonNode.Parse(await replayed.Content.ReadAsStringAsync())!;
            Assert.Equal([replay.Id], body["replayed"]!.AsArray().Select(i => (string)i!));
            Assert.Empty(body["problems"]!.AsArray());
        }
        using (var purged = await http.SendAsync(Request(HttpMethod.Delete, $"/ops/dead-letters/{Py39}/{purge.Id}", OpsToken)))
            Assert.Equal(HttpStatusCode.OK, purged.StatusCode);
        using (var again = await http.SendAsync(Request(HttpMethod.Delete, $"/ops/dead-letters/{Py39}/{purge.Id}", OpsToken)))
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);

        using (var after = await http.SendAsync(Request(HttpMethod.Get, "/ops/dead-letters", OpsToken)))
        {
            var node = JsonNode.Parse(await after.Content.ReadAsStringAsync())!;
            Assert.Equal([keep.Id], Ids(node, Py39));
            Assert.Empty(Ids(node, Py312));
            Assert.NotNull(node["unroutable"]);
        }
        var logged = log.ToString();
        Assert.Contains("/ops/dead-letters", logged);   // the calls are logged (an audit trail) …
        Assert.Contains(replay.Id, logged);
        Assert.DoesNotContain(OpsToken, logged);        // … the token never
    }

    [Fact]
    public async Task The_cli_and_the_ops_api_answer_the_same_json_for_the_same_letters()
    {
        await using var world = await StartAsync();
        await world.Pipeline.StartReceiverAsync(registerWebhook: false);
        var letter = await world.DeadLetterAsync(Py39, "a.staging", message: "line 1\nERROR: No matching distribution found for catboost==1.1");
        await world.DeadLetterAsync(Py39, "b.staging", "2", FailureClass.Permanent);
        await world.DeadLetterAsync(Py312, "c.staging");
        await world.ParkAsync("u.staging", "no cluster serves Python 3.10.4");
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OpsToken);

        (string[] Cli, string Api)[] sameQuestions =
        [
            (["dlq", "list", world.Config], "/ops/dead-letters"),
            (["dlq", "list", world.Config, Py39], $"/ops/dead-letters?cluster={Py39}"),
            (["dlq", "show", world.Config, Py39, letter.Id], $"/ops/dead-letters/{Py39}/{letter.Id}"),
        ];
        foreach (var (cli, api) in sameQuestions)
        {
            var (code, stdout, stderr) = await Programs.RunMlray([.. cli, "--output", "json"]);
            Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
            var fromApi = JsonNode.Parse(await http.GetStringAsync(api));
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(stdout), fromApi), $"mlray {string.Join(' ', cli)}:\n{stdout}\nGET {api}:\n{fromApi}");
        }
        Assert.Equal(2, JsonNode.Parse(await http.GetStringAsync("/ops/dead-letters"))!["clusters"]!.AsArray().Count);   // not vacuous: both clusters, …
        Assert.Single(JsonNode.Parse(await http.GetStringAsync("/ops/dead-letters"))!["unroutable"]!.AsArray());     // … and the parked model

        // An unknown cluster: the same words (MLRayConfig.GetCluster's), exit 2 there and 404 here.
        var unknownCli = await Programs.RunMlray("dlq", "show", world.Config, "ray-cluster-py311", letter.Id);
        using var unknownApi = await http.GetAsync($"/ops/dead-letters/ray-cluster-py311/{letter.Id}");
        Assert.Equal(2, unknownCli.ExitCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownApi.StatusCode);
        var apiError = (string)JsonNode.Parse(await unknownApi.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal($"no cluster named 'ray-cluster-py311' (configured: {Py39}, {Py312})", apiError);
        Assert.Contains($"ray_clusters: {apiError}", unknownCli.Stderr);
    }

    [Fact]
    public async Task Without_an_ops_token_the_ops_api_is_not_served()
    {
        await using var world = await StartAsync(opsToken: false);
        await world.Pipeline.StartReceiverAsync(registerWebhook: false);
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OpsToken);

        using var list = await http.GetAsync("/ops/dead-letters");

        Assert.Equal(HttpStatusCode.NotFound, list.StatusCode);
    }

    [Fact]
    public async Task Metrics_count_dead_letters_by_cluster_and_class_the_unroutable_and_the_oldest_age_without_consuming()
    {
        await using var world = await StartAsync(opsToken: false);
        await world.Pipeline.StartReceiverAsync(registerWebhook: false);
        var letters = new[]
        {
            await world.DeadLetterAsync(Py39, "a.staging"),
            await world.DeadLetterAsync(Py39, "b.staging", failureClass: FailureClass.Permanent),
            await world.DeadLetterAsync(Py39, "c.staging"),
        };
        await world.ParkAsync("u.staging", "no cluster serves Python 3.10.4");
        await Task.Delay(1100);   // so the oldest letter is measurably old
        using var http = new HttpClient { BaseAddress = world.Pipeline.ReceiverUri };

        var metrics = PrometheusText.Normalize(await http.GetStringAsync("/metrics"));

        Assert.Contains($"mlray_dead_letters_queued{{class=\"install\",cluster=\"{Py39}\"}} 2", metrics);
        Assert.Contains($"mlray_dead_letters_queued{{class=\"permanent\",cluster=\"{Py39}\"}} 1", metrics);
        Assert.Contains($"mlray_dead_letters_queued{{class=\"install\",cluster=\"{Py312}\"}} 0", metrics);
        Assert.Contains("mlray_unroutable_models 1", metrics);
        Assert.Contains("mlray_dead_letter_metrics_up 1", metrics);
        var age = double.Parse(metrics.Split('\n').Single(l => l.StartsWith($"mlray_dead_letter_oldest_age_seconds{{cluster=\"{Py39}\"}}")).Split(' ')[1],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(age, 1, 120);
        Assert.Contains($"mlray_dead_letter_oldest_age_seconds{{cluster=\"{Py312}\"}} 0", metrics);
        // The scrape only peeked: every letter is still there, in order.
        Assert.Equal(letters.Select(l => l.Id), Ids(await ListJsonAsync(world, Py39), Py39));
    }
}

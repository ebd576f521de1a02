using System.Net;
using Microsoft.Extensions.DependencyInjection;
using MLRay.Deploy;
using MLRay.Pipeline.Messages;
using MLRay.Pipeline.Topology;
using MLRay.Receiver.Console;
using MLRay.Tests.Broker;
using MLRay.Pipeline;
using MLRay.Pipeline.Failures;

namespace MLRay.Tests.Pipeline.OpsConsole;

/// <summary>
/// The ops console over plain HTTP (as a browser without JavaScript, or a script) on a real RabbitMQ and the emulators:
/// who gets in, what a form post needs, and that each action does what the CLI's would.
/// </summary>
[Collection("broker")]
public sealed class OpsConsoleHttpTests(RabbitMqBroker broker)
{
    private const string Py39 = ConsoleWorld.Py39;
    private const string Py312 = ConsoleWorld.Py312;

    /// <summary>Every page and every action of the console, as (method, path).</summary>
    private static readonly (HttpMethod Method, string Path)[] Everything =
    [
        (HttpMethod.Get, OpsConsoleExtensions.OverviewPath), (HttpMethod.Get, OpsConsoleExtensions.OverviewPath + "?status=RUNNING"),
        (HttpMethod.Get, OpsConsoleExtensions.DeadLettersPath), (HttpMethod.Get, OpsConsoleExtensions.RolloutsPath),
        (HttpMethod.Get, OpsConsoleExtensions.ActivityPath), (HttpMethod.Get, $"{OpsConsoleExtensions.CellPath}/{Py39}/a.staging"),
        (HttpMethod.Get, OpsConsoleExtensions.EventsPath),
        (HttpMethod.Post, $"{OpsConsoleExtensions.DeadLettersPath}/{Py39}/replay"), (HttpMethod.Post, $"{OpsConsoleExtensions.DeadLettersPath}/{Py39}/purge"),
        (HttpMethod.Post, $"{OpsConsoleExtensions.RolloutsPath}/{Py312}/fraud.staging/promote"), (HttpMethod.Post, OpsConsoleExtensions.LogoutPath),
    ];

    [Fact]
    public async Task Without_an_ops_token_every_console_path_is_404()
    {
        await using var world = await ConsoleWorld.StartAsync(broker, opsToken: false);
        using var client = world.Client();

        foreach (var (method, path) in Everything.Append((HttpMethod.Get, OpsConsoleExtensions.LoginPath)).Append((HttpMethod.Get, OpsConsoleExtensions.StaticPath + "/console.js")))
        {
            using var response = await client.Http.SendAsync(new HttpRequestMessage(method, path));
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task An_unauthenticated_request_to_any_page_or_action_is_sent_to_the_login_form_or_refused_and_never_gets_data()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        var letter = await world.DeadLetterAsync(Py39, "secret-model.staging");
        using var anonymous = world.Client();
        using var wrongBearer = world.Client();
        wrongBearer.Http.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-token");

        foreach (var (method, path) in Everything)
        {
            var content = new FormUrlEncodedContent([new("id", letter.Id)]);
            using var response = await anonymous.Http.SendAsync(new HttpRequestMessage(method, path) { Content = method == HttpMethod.Post ? content : null });
            var body = await response.Content.ReadAsStringAsync();
            if (method == HttpMethod.Get && path != OpsConsoleExtensions.EventsPath)
            {
                Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{method} {path}: {(int)response.StatusCode}");
                Assert.StartsWith(OpsConsoleExtensions.LoginPath + "?return=", response.Headers.Location!.OriginalString.Replace(world.Pipeline.ReceiverUri!.ToString().TrimEnd('/'), ""));
            }
            else Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode}");
            Assert.DoesNotContain("secret-model", body);
            Assert.DoesNotContain(letter.Id, body);

            using var wrong = await wrongBearer.Http.SendAsync(new HttpRequestMessage(method, path));
            Assert.True(wrong.StatusCode == HttpStatusCode.Unauthorized, $"wrong bearer, {method} {path}: {(int)wrong.StatusCode}");
        }
        Assert.Equal([letter.Id], await world.LetterIdsAsync(Py39));   // no action did anything
        Assert.Equal(0u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));

        // The same token as the JSON API's, in the header, opens the pages to a script.
        using var script = world.Client();
        script.Http.DefaultRequestHeaders.Authorization = new("Bearer", PipelineWorld.OpsToken);
        var page = await script.Http.GetStringAsync(OpsConsoleExtensions.DeadLettersPath);
        Assert.Contains(letter.Id, page);
        Assert.Contains("pip: No matching distribution found for secret-model.staging", page);
    }

    [Fact]
    public async Task Login_sets_a_strict_http_only_session_cookie_and_repeated_wrong_tokens_back_off()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        using var client = world.Client();

        for (var i = 0; i < 4; i++)
        {
            using var wrong = await client.LoginAsync("guess-" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains("Wrong token.", await wrong.Content.ReadAsStringAsync());
            Assert.Contains("id=\"token\"", await wrong.Content.ReadAsStringAsync());   // the form again
        }
        // Three wrong tokens are free; after the fourth the client waits a second, even with the right token.
        using var throttled = await client.LoginAsync(PipelineWorld.OpsToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal("1", throttled.Headers.GetValues("Retry-After").Single());
        Assert.Contains("Too many wrong tokens", await throttled.Content.ReadAsStringAsync());
        Assert.DoesNotContain(client.Cookies.GetCookies(world.Pipeline.ReceiverUri!), c => c.Name == ConsoleAuth.CookieName);

        await Task.Delay(TimeSpan.FromSeconds(1.2));
        using var right = await client.LoginAsync(PipelineWorld.OpsToken);

        Assert.Equal(HttpStatusCode.Redirect, right.StatusCode);
        Assert.Equal(OpsConsoleExtensions.OverviewPath, right.Headers.Location!.OriginalString);
        var setCookie = right.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith(ConsoleAuth.CookieName + "=", StringComparison.Ordinal));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/ops", setCookie, StringComparison.OrdinalIgnoreCase);
        // A browser-session cookie (closing the browser ends it); the signed ticket in it expires after the session lifetime.
        Assert.DoesNotContain("expires=", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", setCookie, StringComparison.OrdinalIgnoreCase);   // plain http here; Secure behind https
        Assert.DoesNotContain(PipelineWorld.OpsToken, setCookie);
        using var overview = await client.Http.GetAsync(OpsConsoleExtensions.OverviewPath);
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
        Assert.Contains("Models on clusters", await overview.Content.ReadAsStringAsync());

        // Logging out ends the session: the same client is sent to the form again.
        using var logout = await client.PostAsync(OpsConsoleExtensions.LogoutPath, OpsConsoleExtensions.OverviewPath, inPlace: false);
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        using var after = await client.Http.GetAsync(OpsConsoleExtensions.OverviewPath);
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
    }

    [Fact]
    public async Task A_session_made_on_one_receiver_is_good_on_another_with_the_same_token_and_on_none_with_a_new_token()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        // Two more receivers on the same broker, each with a working directory of its own (as pods with emptyDirs behind one
        // Service): one with the same ops token, one after the token was changed.
        async Task<Microsoft.AspNetCore.Builder.WebApplication> StartReceiverAsync(string? opsToken)
        {
            var dir = Path.Combine(world.Pipeline.Emulators.WorkingDir, "replica-" + Guid.NewGuid().ToString("N"));
            var config = world.Pipeline.Config with { WorkingDir = dir };
            if (opsToken is not null) config = config with { Pipeline = config.Pipeline with { OpsToken = opsToken } };
            var receiver = MLRay.Receiver.Hosting.ReceiverApp.Build(["--urls", "http://127.0.0.1:0"], config, world.Pipeline.Env);
            await receiver.StartAsync();
            return receiver;
        }
        await using var replicaApp = await StartReceiverAsync(opsToken: null);
        await using var rotatedApp = await StartReceiverAsync(opsToken: "a-new-ops-token-after-rotation");
        var replica = new Uri(replicaApp.Urls.First());
        var rotated = new Uri(rotatedApp.Urls.First());
        using var client = world.Client();
        using var login = await client.LoginAsync(PipelineWorld.OpsToken);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);

        // A browser sends the cookie to every port of 127.0.0.1, as it would to every pod behind one address.
        using var onReplica = await client.Http.GetAsync(new Uri(replica, OpsConsoleExtensions.OverviewPath));
        Assert.Equal(HttpStatusCode.OK, onReplica.StatusCode);
        Assert.Contains("Models on clusters", await onReplica.Content.ReadAsStringAsync());
        // A form of one receiver's page posts to another: its anti-forgery token is good there too (logging out, here).
        using var logoutElsewhere = await client.Http.PostAsync(new Uri(replica, OpsConsoleExtensions.LogoutPath), new FormUrlEncodedContent(
            [new(ConsoleAuth.AntiforgeryField, ConsoleClient.CsrfOf(await client.Http.GetStringAsync(OpsConsoleExtensions.OverviewPath)))]));
        Assert.Equal(HttpStatusCode.Redirect, logoutElsewhere.StatusCode);
        Assert.EndsWith(OpsConsoleExtensions.LoginPath, logoutElsewhere.Headers.Location!.OriginalString);

        using var again = await client.LoginAsync(PipelineWorld.OpsToken);
        using var onRotated = await client.Http.GetAsync(new Uri(rotated, OpsConsoleExtensions.OverviewPath));
        Assert.Equal(HttpStatusCode.Redirect, onRotated.StatusCode);   // the old token's session: to the login form
        Assert.Contains(OpsConsoleExtensions.LoginPath, onRotated.Headers.Location!.ToString());
        // Nothing written under any working directory: there is no key ring on disk to share.
        Assert.Empty(Directory.GetDirectories(world.Pipeline.Emulators.WorkingDir, "ops-console-keys", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_form_post_without_the_pages_antiforgery_token_is_refused_and_replay_and_purge_with_it_act_like_mlray_dlq()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        var a = await world.DeadLetterAsync(Py39, "a.staging");
        var b = await world.DeadLetterAsync(Py39, "b.staging");
        using var client = world.Client();
        Assert.Equal(HttpStatusCode.Redirect, (await client.LoginAsync(PipelineWorld.OpsToken)).StatusCode);
        var replay = $"{OpsConsoleExtensions.DeadLettersPath}/{Py39}/replay";

        using var forged = await client.PostAsync(replay, page: null, inPlace: false, ("id", a.Id));
        using var wrongToken = await client.PostAsync(replay, page: null, inPlace: false, ("id", a.Id), (ConsoleAuth.AntiforgeryField, "forged"));

        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Contains("anti-forgery token", await forged.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, wrongToken.StatusCode);
        Assert.Equal([a.Id, b.Id], await world.LetterIdsAsync(Py39));
        Assert.Equal(0u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));

        // With the page's token: the plain form is answered by a redirect back with the result, console.js's by the result alone.
        using var replayed = await client.PostAsync(replay, OpsConsoleExtensions.DeadLettersPath, inPlace: false, ("id", a.Id), ("return", OpsConsoleExtensions.DeadLettersPath));
        Assert.Equal(HttpStatusCode.Redirect, replayed.StatusCode);
        Assert.StartsWith(OpsConsoleExtensions.DeadLettersPath + "?result=", replayed.Headers.Location!.OriginalString);
        var shown = await client.Http.GetStringAsync(replayed.Headers.Location);
        Assert.Contains($"replayed a.staging version 1 (letter {a.Id})", shown);
        Assert.Equal([b.Id], await world.LetterIdsAsync(Py39));
        Assert.Equal(1u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));

        using var purged = await client.PostAsync($"{OpsConsoleExtensions.DeadLettersPath}/{Py39}/purge", OpsConsoleExtensions.DeadLettersPath, inPlace: true, ("id", b.Id));
        Assert.Equal(HttpStatusCode.OK, purged.StatusCode);
        Assert.Contains($"purged b.staging version 1 (letter {b.Id})", await purged.Content.ReadAsStringAsync());
        Assert.Empty(await world.LetterIdsAsync(Py39));
        Assert.Equal(1u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));   // a purge queues nothing

        using var gone = await client.PostAsync($"{OpsConsoleExtensions.DeadLettersPath}/{Py39}/purge", OpsConsoleExtensions.DeadLettersPath, inPlace: true, ("id", b.Id));
        Assert.Equal(HttpStatusCode.Conflict, gone.StatusCode);
        Assert.Contains(DeadLetterStore.NoSuchLetter(Py39, b.Id), System.Net.WebUtility.HtmlDecode(await gone.Content.ReadAsStringAsync()));
        using var nothing = await client.PostAsync(replay, OpsConsoleExtensions.DeadLettersPath, inPlace: true);
        Assert.Equal(HttpStatusCode.Conflict, nothing.StatusCode);
        using var unknownCluster = await client.PostAsync($"{OpsConsoleExtensions.DeadLettersPath}/ray-cluster-py311/replay", OpsConsoleExtensions.DeadLettersPath, inPlace: true, ("id", b.Id));
        Assert.Equal(HttpStatusCode.NotFound, unknownCluster.StatusCode);
    }

    [Fact]
    public async Task Pause_resume_promote_and_abort_from_the_console_reach_only_the_clusters_queue_and_a_model_without_a_rollout_is_refused()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        var mlflow = world.Pipeline.Emulators.Mlflow;
        mlflow.CreateRegisteredModel("fraud.staging", new Dictionary<string, string>
        {
            [DeploymentTags.Name] = "fraud", [DeploymentTags.NumReplicas] = "1", [DeploymentTags.NumCpus] = "0.5", [DeploymentTags.Memory] = "1",
        });
        foreach (var status in new[] { DeployStatus.Running, DeployStatus.RollingOut })
        {
            var version = mlflow.CreateModelVersion("fraud.staging", "mlflow-artifacts:/1/fraud/artifacts/model");
            mlflow.SetModelVersionTag("fraud.staging", version, MLRayTags.Key(Py312, MLRayTags.Status), status);
        }
        mlflow.SetModelVersionTag("fraud.staging", "2", MLRayTags.Key(Py312, MLRayTags.Rollout),
            new RolloutState { Weight = 10, Since = DateTimeOffset.UtcNow, From = "1" }.ToJson());
        using var client = world.Client();
        await client.LoginAsync(PipelineWorld.OpsToken);

        var page = await client.Http.GetStringAsync(OpsConsoleExtensions.RolloutsPath);
        Assert.Contains("data-rollout=\"ray-cluster-py312:fraud.staging\"", page);
        Assert.Contains("10 %", page);
        foreach (var command in new[] { "pause", "resume", "promote", "abort" })
        {
            using var sent = await client.PostAsync($"{OpsConsoleExtensions.RolloutsPath}/{Py312}/fraud.staging/{command}", OpsConsoleExtensions.RolloutsPath, inPlace: true);
            Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
            Assert.Contains($"asked {Py312} to {command} the rollout of fraud.staging (version 2)", await sent.Content.ReadAsStringAsync());
        }
        using var unknown = await client.PostAsync($"{OpsConsoleExtensions.RolloutsPath}/{Py312}/fraud.staging/rollback", OpsConsoleExtensions.RolloutsPath, inPlace: true);
        Assert.Equal(HttpStatusCode.Conflict, unknown.StatusCode);
        using var elsewhere = await client.PostAsync($"{OpsConsoleExtensions.RolloutsPath}/{Py39}/fraud.staging/pause", OpsConsoleExtensions.RolloutsPath, inPlace: true);
        Assert.Equal(HttpStatusCode.Conflict, elsewhere.StatusCode);
        Assert.Contains(MLRay.Pipeline.Rollouts.RolloutOperations.NoRollout(Py39, "fraud.staging"), System.Net.WebUtility.HtmlDecode(await elsewhere.Content.ReadAsStringAsync()));

        Assert.Equal(["pause", "resume", "promote", "abort"], (await world.Pipeline.TakeAsync(Py312)).Select(r => r.RolloutCommand));
        Assert.Equal(0u, await world.MessageCountAsync(PipelineTopology.ClusterQueue(Py39)));
    }

    [Fact]
    public async Task When_mlflow_cannot_be_read_the_overview_and_its_live_feed_say_the_models_are_stale_instead_of_showing_them_as_current()
    {
        await using var world = await ConsoleWorld.StartAsync(broker);
        world.Pipeline.Emulators.RegisterSeed();
        using var client = world.Client();
        await client.LoginAsync(PipelineWorld.OpsToken);
        var fresh = await client.Http.GetStringAsync(OpsConsoleExtensions.OverviewPath);
        Assert.Contains("iris_classifier-py39-catboost11.staging", fresh);
        Assert.DoesNotContain("data-stale", fresh);
        using var stream = new StreamReader(await client.Http.GetStreamAsync(OpsConsoleExtensions.EventsPath));
        var first = await NextEventAsync(stream);
        Assert.False((bool)first["stale"]!);
        Assert.Contains("iris_classifier-py39-catboost11.staging", (string)first["rows"]!);

        world.Pipeline.Emulators.Mlflow.Faults.FailNext = int.MaxValue;   // every MLflow request answers 503 from now on
        JsonNode stale;
        do stale = await NextEventAsync(stream);
        while (!(bool)stale["stale"]!);
        var page = await client.Http.GetStringAsync(OpsConsoleExtensions.OverviewPath);

        foreach (var shown in new[] { (string)stale["banner"]!, page })
        {
            Assert.Contains("data-stale=\"true\"", shown);
            Assert.Matches(@"MLflow could not be read; the models below are as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, not now", shown);
        }
        // The last rows read stay on the page, marked by the banner: the event redraws none of them.
        Assert.Null(stale["rows"]);
        Assert.Null(stale["changed_rows"]);
        Assert.Contains("iris_classifier-py39-catboost11.staging", page);
        Assert.Contains(world.Pipeline.Emulators.Mlflow.BaseUri.Authority, System.Net.WebUtility.HtmlDecode(page));   // which service failed
    }

    [Fact]
    public async Task An_open_page_on_a_quiet_registry_reads_nothing_until_a_worker_reports_a_reconcile_or_an_operator_acts()
    {
        // The idle read (15 s by default) pushed out of the test's reach: every read below was caused by a report or an action.
        await using var world = await ConsoleWorld.StartAsync(broker,
            receiverServices: s => s.Configure<OpsConsoleOptions>(o => o.IdleRefreshInterval = TimeSpan.FromHours(1)));
        var mlflow = world.Pipeline.Emulators.Mlflow;
        world.Pipeline.Emulators.RegisterSeed();
        int Searches(int since) => mlflow.RequestCounts(since).GetValueOrDefault("registered-models/search");
        using var client = world.Client();
        await client.LoginAsync(PipelineWorld.OpsToken);
        using var stream = new StreamReader(await client.Http.GetStreamAsync(OpsConsoleExtensions.EventsPath));
        Assert.DoesNotContain("added-meanwhile.staging", (string)(await NextEventAsync(stream))["rows"]!);

        var quiet = mlflow.Requests.Count;
        await Task.Delay(TimeSpan.FromSeconds(6));   // three refresh intervals with nothing reported
        Assert.Equal(0, Searches(quiet));

        // A worker's report (here: as a worker publishes it): the page reads and shows what changed meanwhile.
        mlflow.CreateRegisteredModel("added-meanwhile.staging", new Dictionary<string, string>
        {
            [DeploymentTags.Name] = "added-meanwhile", [DeploymentTags.NumReplicas] = "1", [DeploymentTags.NumCpus] = "0.5", [DeploymentTags.Memory] = "1",
        });
        mlflow.CreateModelVersion("added-meanwhile.staging", "mlflow-artifacts:/1/added/artifacts/model");
        await world.ReportReconcileAsync(Py39);
        var next = await NextEventAsync(stream);
        Assert.Contains("added-meanwhile.staging", (string)next["rows"]!);
        Assert.True(Searches(quiet) >= 1);

        // An operator's action on this receiver: a purge, and the next read follows without any report.
        var letter = await world.DeadLetterAsync(Py312, "gone.staging");
        var before = mlflow.Requests.Count;
        using var purge = await client.PostAsync($"{OpsConsoleExtensions.DeadLettersPath}/{Py312}/purge", OpsConsoleExtensions.DeadLettersPath, inPlace: true, ("id", letter.Id));
        Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
        var afterPurge = await NextEventAsync(stream);
        Assert.True(Searches(before) >= 1);
        Assert.Null(afterPurge["rows"]);   // the same rows, none changed: nothing of the table is sent again
        Assert.Null(afterPurge["changed_rows"]);

        // One cell changes (a dead letter for the ARM model): the event carries that row alone.
        await world.DeadLetterAsync(Py39, ConsoleWorld.ArmModel);
        await world.ReportReconcileAsync(Py39);
        var oneRow = await NextEventAsync(stream);
        Assert.Null(oneRow["rows"]);
        var changed = oneRow["changed_rows"]!.AsObject();
        Assert.Equal(["row:" + ConsoleWorld.ArmModel], changed.Select(kv => kv.Key));
        Assert.Contains($"data-status=\"{ModelStatus.DeadLettered}\"", (string)changed["row:" + ConsoleWorld.ArmModel]!);
    }

    /// <summary>The next <c>overview</c> event's data from the console's event stream (within a minute).</summary>
    private static async Task<JsonNode> NextEventAsync(StreamReader stream)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (await stream.ReadLineAsync(timeout.Token) is { } line)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) return JsonNode.Parse(line["data: ".Length..])!;
        throw new EndOfStreamException("the event stream ended");
    }
}

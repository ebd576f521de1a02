using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Testcontainers.RabbitMq;

namespace MLRay.Testing;

/// <summary>
/// A RabbitMQ broker for tests: <c>RABBITMQ_URI</c> when set (scripts/rabbitmq.sh starts one on this machine), else
/// a Testcontainers container, else a loud failure — never a skip. Every <see cref="CreateVhostAsync"/> gives a
/// test its own throw-away vhost (deleted on dispose); the management API (port 15672) inspects queues and the
/// outage helpers stop and start the broker's app. <see cref="RabbitMqCluster"/> is the same for the three-node cluster.
/// </summary>
public class RabbitMqBroker : IAsyncLifetime
{
    public const string UriVariable = "RABBITMQ_URI";
    /// <summary>The three-node test cluster's URIs, comma-separated (what <c>scripts/rabbitmq.sh cluster start</c> prints as <c>RABBITMQ_URIS</c>).</summary>
    public const string ClusterUrisVariable = "RABBITMQ_CLUSTER_URIS";
    /// <summary>Optional override of the management API's base URL (default: http://&lt;amqp host&gt;:15672/).</summary>
    public const string ManagementUriVariable = "RABBITMQ_MANAGEMENT_URI";
    public const string Hint = "run `scripts/rabbitmq.sh start` (installs and starts a loopback broker) and export RABBITMQ_URI=amqp://guest:guest@127.0.0.1:5672/";

    private readonly List<string> _vhosts = [];
    private readonly bool _cluster;
    private readonly HashSet<int> _stoppedNodes = [];
    private RabbitMqContainer? _container;
    private HttpClient _http = null!;
    private bool _appStopped;

    public RabbitMqBroker() : this(cluster: false) { }

    protected RabbitMqBroker(bool cluster) => _cluster = cluster;

    /// <summary>The broker's base AMQP URI (default vhost); a cluster's first node.</summary>
    public Uri AmqpUri { get; private set; } = null!;

    /// <summary>Every node's base AMQP URI, in order (one for the single broker).</summary>
    public IReadOnlyList<Uri> AmqpUris { get; private set; } = [];

    /// <summary>A cluster's node names (<c>mlray-n1@localhost</c> …) by their 1-based place in <see cref="AmqpUris"/>.</summary>
    public IReadOnlyDictionary<int, string> NodeNames { get; private set; } = new Dictionary<int, string>();

    /// <summary>The management API's base URL, e.g. http://127.0.0.1:15672/.</summary>
    public Uri ManagementUri { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (_cluster)
        {
            await InitializeClusterAsync();
            return;
        }
        var configured = Environment.GetEnvironmentVariable(UriVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            if (!Uri.TryCreate(configured, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps"))
                throw new InvalidOperationException($"{UriVariable}='{configured}' is not an amqp:// URI; {Hint}");
            AmqpUri = uri;
            ManagementUri = Environment.GetEnvironmentVariable(ManagementUriVariable) is { Length: > 0 } m
                ? new Uri(m) : new UriBuilder("http", uri.Host, 15672).Uri;
        }
        else
        {
            try
            {
                _container = new RabbitMqBuilder("rabbitmq:3.13-management").WithPortBinding(15672, true).Build();
                await _container.StartAsync();
            }
            catch (Exception e)
            {
                if (_container is not null) await _container.DisposeAsync();
                _container = null;
                throw new InvalidOperationException(
                    $"No RabbitMQ for the broker tests: {UriVariable} is not set and Testcontainers could not start one " +
                    $"({e.GetType().Name}: {e.Message}). On a machine without Docker, {Hint}.", e);
            }
            AmqpUri = new Uri(_container.GetConnectionString());
            ManagementUri = new UriBuilder("http", _container.Hostname, _container.GetMappedPublicPort(15672)).Uri;
        }

        AmqpUris = [AmqpUri];
        UseManagementApi([ManagementUri]);

        try
        {
            using var overview = await _http.GetAsync("api/overview");
            overview.EnsureSuccessStatusCode();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                $"RabbitMQ's management API at {ManagementUri} does not answer for {Redacted(AmqpUri)} ({e.Message}); {Hint}", e);
        }
    }

    /// <summary>
    /// The cluster: <see cref="ClusterUrisVariable"/> when set, else started (or found running) by
    /// <c>scripts/rabbitmq.sh cluster start</c>. The management API is asked on the first node that answers.
    /// </summary>
    private async Task InitializeClusterAsync()
    {
        var configured = Environment.GetEnvironmentVariable(ClusterUrisVariable);
        if (string.IsNullOrWhiteSpace(configured))
        {
            var (code, stdout, stderr) = await ScriptAsync("cluster", "start");
            configured = stdout.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("RABBITMQ_URIS=", StringComparison.Ordinal))?["RABBITMQ_URIS=".Length..];
            if (code != 0 || configured is null)
                throw new InvalidOperationException($"{ClusterUrisVariable} is not set and `scripts/rabbitmq.sh cluster start` failed ({code}): {stderr}{stdout}");
        }
        AmqpUris = [.. configured.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(u => new Uri(u))];
        AmqpUri = AmqpUris[0];
        // The script's nodes serve the management API 10000 above their AMQP port (5681 → 15681).
        ManagementUri = new UriBuilder("http", AmqpUri.Host, AmqpUri.Port + 10000).Uri;
        UseManagementApi([.. AmqpUris.Select(u => new UriBuilder("http", u.Host, u.Port + 10000).Uri)]);

        // Which node serves which AMQP port: the listeners the management API lists.
        using var response = await _http.GetAsync("api/overview");
        await EnsureSuccess(response, "read the cluster's listeners");
        var names = new Dictionary<int, string>();
        foreach (var listener in JsonNode.Parse(await response.Content.ReadAsStringAsync())?["listeners"]?.AsArray() ?? [])
        {
            if ((string?)listener?["protocol"] != "amqp") continue;
            var index = AmqpUris.ToList().FindIndex(u => u.Port == (int)listener!["port"]!);
            if (index >= 0) names[index + 1] = (string)listener!["node"]!;
        }
        if (names.Count != AmqpUris.Count)
            throw new InvalidOperationException($"the cluster at {ManagementUri} lists AMQP listeners for {names.Count} of {AmqpUris.Count} nodes: is every node running? (scripts/rabbitmq.sh cluster status)");
        NodeNames = names;
    }

    private void UseManagementApi(IReadOnlyList<Uri> managementUris)
    {
        var (user, password) = Credentials(AmqpUri);
        _http = new HttpClient(new NodeFailover(managementUris)) { BaseAddress = managementUris[0], Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
    }

    /// <summary>Sends each management request to the next node when one does not accept the connection (a stopped cluster node).</summary>
    private sealed class NodeFailover(IReadOnlyList<Uri> nodes) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var path = request.RequestUri!.PathAndQuery;
            for (var i = 0; ; i++)
            {
                request.RequestUri = new Uri(nodes[i], path);
                try { return await base.SendAsync(request, ct); }
                catch (HttpRequestException) when (i + 1 < nodes.Count) { }
            }
        }
    }

    /// <summary>Every node's AMQP URI for the vhost of <paramref name="vhostUri"/> (what <c>rabbitmq.uris</c> lists).</summary>
    public IReadOnlyList<Uri> NodeUris(Uri vhostUri) => [.. AmqpUris.Select(u => new UriBuilder(u) { Path = vhostUri.AbsolutePath }.Uri)];

    /// <summary>The node that leads the quorum queue (management API <c>leader</c>), or null when none does.</summary>
    public async Task<string?> QueueLeaderAsync(string vhostUri, string queue)
    {
        using var response = await _http.GetAsync(QueuePath(vhostUri, queue));
        await EnsureSuccess(response, $"read queue {queue}");
        // A document, not a JsonNode: RabbitMQ 3.10 repeats keys (e.g. "online") in a quorum queue's JSON while a member is down.
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.TryGetProperty("leader", out var leader) && leader.ValueKind == JsonValueKind.String ? leader.GetString() : null;
    }

    /// <summary>A quorum queue's <c>x-quorum-initial-group-size</c> argument (null when declared without it) and how many members it has.</summary>
    public async Task<(int? GroupSize, int Members)> QueueReplicationAsync(string vhostUri, string queue)
    {
        using var response = await _http.GetAsync(QueuePath(vhostUri, queue));
        await EnsureSuccess(response, $"read queue {queue}");
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        int? size = root.TryGetProperty("arguments", out var args) && args.TryGetProperty("x-quorum-initial-group-size", out var s) ? s.GetInt32() : null;
        return (size, root.TryGetProperty("members", out var members) ? members.GetArrayLength() : 0);
    }

    /// <summary>The vhost's client connections: the name the client gave (<c>connection_name</c>) and the node it is on.</summary>
    public async Task<IReadOnlyList<(string Name, string Node)>> ConnectionsAsync(string vhostUri)
    {
        using var response = await _http.GetAsync($"api/vhosts/{Uri.EscapeDataString(VhostOf(vhostUri))}/connections");
        await EnsureSuccess(response, "list connections");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync()) is JsonArray connections
            ? [.. connections.Select(c => ((string?)c?["client_properties"]?["connection_name"] ?? "", (string)c!["node"]!))]
            : [];
    }

    /// <summary><c>scripts/rabbitmq.sh cluster stop-node N</c> (1-based): the node shuts down, the others go on.</summary>
    public async Task StopNodeAsync(int node)
    {
        lock (_stoppedNodes) _stoppedNodes.Add(node);
        await ClusterScriptAsync("stop-node", node);
    }

    /// <summary><c>scripts/rabbitmq.sh cluster start-node N</c>: the node starts and rejoins; returns once it serves AMQP and the management API.</summary>
    public async Task StartNodeAsync(int node)
    {
        await ClusterScriptAsync("start-node", node);
        lock (_stoppedNodes) _stoppedNodes.Remove(node);
    }

    private static async Task ClusterScriptAsync(string command, int node)
    {
        var (code, stdout, stderr) = await ScriptAsync("cluster", command, node.ToString());
        if (code != 0) throw new InvalidOperationException($"scripts/rabbitmq.sh cluster {command} {node} failed ({code}): {stderr}{stdout}");
    }

    private static async Task<(int Code, string Stdout, string Stderr)> ScriptAsync(params string[] args)
    {
        var start = new ProcessStartInfo(TestPaths.RepoFile("scripts/rabbitmq.sh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(300));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// A fresh vhost (<c>mlray-test-…</c>) with configure/write/read <c>.*</c> for the URI's user; returns the
    /// AMQP URI for it. Deleted when the fixture is disposed.
    /// </summary>
    public async Task<Uri> CreateVhostAsync()
    {
        var name = "mlray-test-" + Guid.NewGuid().ToString("N")[..12];
        lock (_vhosts) _vhosts.Add(name);
        await PutVhostAsync(name);
        return new UriBuilder(AmqpUri) { Path = "/" + Uri.EscapeDataString(name) }.Uri;
    }

    /// <summary>
    /// Creates again, empty, a vhost <see cref="CreateVhostAsync"/> made and <see cref="DeleteVhostAsync"/> deleted, with
    /// the same permissions: what a broker that lost its definitions (node reset, volume lost) looks like to its clients.
    /// </summary>
    public Task RecreateVhostAsync(Uri vhostUri) => PutVhostAsync(VhostOf(vhostUri.ToString()));

    private async Task PutVhostAsync(string name)
    {
        var (user, _) = Credentials(AmqpUri);
        using (var put = await _http.PutAsync($"api/vhosts/{Uri.EscapeDataString(name)}", JsonContent("{}")))
            await EnsureSuccess(put, $"create vhost {name}");
        using (var perms = await _http.PutAsync($"api/permissions/{Uri.EscapeDataString(name)}/{Uri.EscapeDataString(user)}",
                   JsonContent("""{"configure":".*","write":".*","read":".*"}""")))
            await EnsureSuccess(perms, $"grant {user} on vhost {name}");
    }

    /// <summary>
    /// The queue's <c>messages</c> (ready + unacked) as the management API reports it, or -1 when the queue does
    /// not exist. The figure lags the broker by a few seconds: poll for the value you expect.
    /// </summary>
    public async Task<int> QueueMessageCountAsync(string vhostUri, string queue)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            using var response = await _http.GetAsync(QueuePath(vhostUri, queue));
            if (response.StatusCode == HttpStatusCode.NotFound) return -1;
            await EnsureSuccess(response, $"read queue {queue}");
            var doc = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            // A queue declared a moment ago has no statistics yet: wait for the first sample rather than guess 0.
            if (doc?["messages"] is JsonValue messages) return messages.GetValue<int>();
            if (DateTime.UtcNow > deadline) return 0;
            await Task.Delay(250);
        }
    }

    /// <summary>The names of every queue in the vhost of <paramref name="vhostUri"/>.</summary>
    public async Task<IReadOnlyList<string>> QueueNamesAsync(string vhostUri)
    {
        using var response = await _http.GetAsync($"api/queues/{Uri.EscapeDataString(VhostOf(vhostUri))}?columns=name");
        await EnsureSuccess(response, "list queues");
        return JsonNode.Parse(await response.Content.ReadAsStringAsync()) is JsonArray queues
            ? queues.Select(q => (string)q!["name"]!).ToList() : [];
    }

    /// <summary>
    /// Up to <paramref name="count"/> messages from the head of the queue, requeued afterwards
    /// (<c>ack_requeue_true</c>): body as text (base64 when not UTF-8), headers as strings (non-string values as
    /// JSON). Empty when the queue does not exist or is empty.
    /// </summary>
    public async Task<IReadOnlyList<(string Body, IReadOnlyDictionary<string, string> Headers)>> PeekMessagesAsync(string vhostUri, string queue, int count)
    {
        using var response = await _http.PostAsync(QueuePath(vhostUri, queue) + "/get",
            JsonContent($$"""{"count":{{count}},"ackmode":"ack_requeue_true","encoding":"auto"}"""));
        if (response.StatusCode == HttpStatusCode.NotFound) return [];
        await EnsureSuccess(response, $"peek queue {queue}");
        var result = new List<(string, IReadOnlyDictionary<string, string>)>();
        if (JsonNode.Parse(await response.Content.ReadAsStringAsync()) is not JsonArray messages) return result;
        foreach (var message in messages)
        {
            var body = message?["payload"]?.GetValue<string>() ?? "";
            var headers = new Dictionary<string, string>(StringComparer.Ordinal);
            if (message?["properties"]?["headers"] is JsonObject h)
                foreach (var (key, value) in h)
                    headers[key] = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "";
            result.Add((body, headers));
        }
        return result;
    }

    /// <summary><c>rabbitmqctl stop_app</c>: the node stays up, AMQP and the management API go away (a broker outage).</summary>
    public async Task StopAppAsync()
    {
        await RabbitmqctlAsync("stop_app");
        _appStopped = true;
    }

    /// <summary><c>rabbitmqctl start_app</c>, then waits until AMQP accepts connections and the management API answers.</summary>
    public async Task StartAppAsync()
    {
        await RabbitmqctlAsync("start_app");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await AcceptsAsync(AmqpUri.Host, AmqpUri.IsDefaultPort ? 5672 : AmqpUri.Port) || !await ManagementAnswersAsync())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"RabbitMQ did not come back on {AmqpUri.Host}:{AmqpUri.Port} within 60 s after start_app");
            await Task.Delay(200);
        }
        _appStopped = false;
    }

    /// <summary>Deletes a vhost <see cref="CreateVhostAsync"/> made (its connections are closed by the broker).</summary>
    public async Task DeleteVhostAsync(Uri vhostUri)
    {
        using var response = await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(VhostOf(vhostUri.ToString()))}");
        await EnsureSuccess(response, $"delete vhost {VhostOf(vhostUri.ToString())}");
    }

    /// <summary>
    /// Deletes a vhost <see cref="CreateVhostAsync"/> made as soon as its test is done (best effort, already gone is fine):
    /// the vhosts of a whole suite, each with its quorum queues, left until the end load a one-node broker until its
    /// quorum-queue servers stop starting.
    /// </summary>
    public async Task ReleaseVhostAsync(Uri vhostUri)
    {
        var name = VhostOf(vhostUri.ToString());
        try { using var _ = await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(name)}"); }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return; } // the suite's end tries again
        lock (_vhosts) _vhosts.Remove(name);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (_appStopped) await StartAppAsync(); // a test that failed mid-outage must not leave the broker down
            int[] stopped;
            lock (_stoppedNodes) stopped = [.. _stoppedNodes];
            foreach (var node in stopped) await StartNodeAsync(node);
            string[] vhosts;
            lock (_vhosts) vhosts = [.. _vhosts];
            foreach (var vhost in vhosts)
            {
                try { using var _ = await _http.DeleteAsync($"api/vhosts/{Uri.EscapeDataString(vhost)}"); }
                catch (HttpRequestException) { }
            }
        }
        finally
        {
            _http?.Dispose();
            if (_container is not null) await _container.DisposeAsync();
        }
    }

    // ------------------------------------------------------------------ helpers

    private static string QueuePath(string vhostUri, string queue) =>
        $"api/queues/{Uri.EscapeDataString(VhostOf(vhostUri))}/{Uri.EscapeDataString(queue)}";

    /// <summary>The vhost an AMQP URI names: its path unescaped, "/" when empty.</summary>
    internal static string VhostOf(string amqpUri)
    {
        var path = new Uri(amqpUri).AbsolutePath.TrimStart('/');
        return path.Length == 0 ? "/" : Uri.UnescapeDataString(path);
    }

    private static (string User, string Password) Credentials(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo)) return ("guest", "guest");
        var parts = uri.UserInfo.Split(':', 2);
        return (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
    }

    private static string Redacted(Uri uri) => new UriBuilder(uri) { Password = "" }.Uri.ToString();

    private static StringContent JsonContent(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task EnsureSuccess(HttpResponseMessage response, string what)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync();
        throw new HttpRequestException($"RabbitMQ management API: {what} failed ({(int)response.StatusCode}): {body}", null, response.StatusCode);
    }

    private async Task<bool> ManagementAnswersAsync()
    {
        try
        {
            using var response = await _http.GetAsync("api/overview");
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> AcceptsAsync(string host, int port)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await client.ConnectAsync(host, port, timeout.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    private async Task RabbitmqctlAsync(string command)
    {
        if (_container is not null)
        {
            var exec = await _container.ExecAsync(["rabbitmqctl", command]);
            if (exec.ExitCode != 0) throw new InvalidOperationException($"rabbitmqctl {command} in the container failed ({exec.ExitCode}): {exec.Stderr}");
            return;
        }
        var tool = File.Exists("/usr/sbin/rabbitmqctl") ? "/usr/sbin/rabbitmqctl" : "rabbitmqctl";
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-q");
        start.ArgumentList.Add(command);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"rabbitmqctl is not installed here, so the broker at {AmqpUri.Host} cannot be stopped/started by the tests; {Hint}", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"rabbitmqctl {command} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }
}

/// <summary>The three-node loopback cluster of <c>scripts/rabbitmq.sh cluster</c> (ports 5681-5683), for the node-loss tests.</summary>
public sealed class RabbitMqCluster() : RabbitMqBroker(cluster: true);

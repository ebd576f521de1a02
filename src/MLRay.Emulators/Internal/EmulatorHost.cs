using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MLRay.Emulators.Internal;

/// <summary>
/// Kestrel host shared by the emulators: binds 127.0.0.1 on a free port, logs at Warning and above only,
/// reads every request body into <see cref="BodyKey"/> and records each request (with the status returned)
/// before the response reaches the client.
/// </summary>
internal sealed class EmulatorHost : IAsyncDisposable
{
    public const string BodyKey = "mlray.emulator.body";
    public const string BodyBytesKey = "mlray.emulator.body-bytes";
    /// <summary>Set by an emulator that aborts a connection on purpose: the request is recorded with status 0.</summary>
    public const string DroppedKey = "mlray.emulator.dropped";

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly List<RecordedRequest> _requests = new();
    private int _disposed;

    private EmulatorHost(WebApplication app) => _app = app;

    public Uri BaseUri { get; private set; } = null!;

    public IReadOnlyList<RecordedRequest> Requests
    {
        get { lock (_gate) return _requests.ToArray(); }
    }

    /// <summary>How many requests <see cref="Requests"/> holds, without copying them.</summary>
    public int RequestCount
    {
        get { lock (_gate) return _requests.Count; }
    }

    /// <summary>Every request goes to <paramref name="handler"/>.</summary>
    public static Task<EmulatorHost> StartAsync(string name, Func<HttpContext, Task> handler, CancellationToken ct, int port = 0) =>
        StartAsync(name, app => app.Run(new RequestDelegate(handler)), ct, port);

    /// <summary>
    /// <paramref name="mapRoutes"/> adds the emulator's middleware and endpoints after the request recorder. Listens on
    /// 127.0.0.1:<paramref name="port"/> (0: a free port, as tests want; <c>mlray emulators</c> asks for fixed ones).
    /// </summary>
    public static async Task<EmulatorHost> StartAsync(string name, Action<WebApplication> mapRoutes, CancellationToken ct, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(EmulatorHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        // "Overriding address(es)" when ASPNETCORE_URLS/HTTP_PORTS is set (e.g. in containers) is expected here.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);
        // A port in use is thrown to the caller, which says so in one line; the host's own log of it is a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.Listen(IPAddress.Loopback, port);
            o.AddServerHeader = false;
            o.Limits.MaxRequestBodySize = 256L * 1024 * 1024;
        });

        // Embedded in a test or a command: the process's Ctrl+C and SIGTERM are the embedder's, not this host's to swallow.
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, EmbeddedLifetime>();
        var app = builder.Build();
        var host = new EmulatorHost(app);
        app.Use(next => ctx => host.RecordAsync(ctx, next));
        mapRoutes(app);

        await app.StartAsync(ct).ConfigureAwait(false);
        var server = app.Services.GetRequiredService<IServer>();
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException($"{name} emulator: Kestrel reported no bound address.");
        host.BaseUri = new Uri(address.Replace("[::]", "127.0.0.1").Replace("localhost", "127.0.0.1").TrimEnd('/'));
        return host;
    }

    private async Task RecordAsync(HttpContext ctx, RequestDelegate next)
    {
        var buffer = new MemoryStream();
        await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
        var bytes = buffer.ToArray();
        var body = Encoding.UTF8.GetString(bytes);
        ctx.Items[BodyKey] = body;
        ctx.Items[BodyBytesKey] = bytes;

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var h in ctx.Request.Headers) headers[h.Key] = h.Value.ToString();
        var method = ctx.Request.Method.ToUpperInvariant();
        var path = (ctx.Request.PathBase + ctx.Request.Path).ToString();
        var query = ctx.Request.QueryString.HasValue ? ctx.Request.QueryString.Value!.TrimStart('?') : "";

        var at = DateTimeOffset.UtcNow;
        var recorded = 0;
        void Record(int status)
        {
            if (Interlocked.Exchange(ref recorded, 1) != 0) return;
            var answered = DateTimeOffset.UtcNow;
            lock (_gate) _requests.Add(new RecordedRequest(method, path, query, body, headers, status) { At = at, AnsweredAt = answered });
        }

        ctx.Response.OnStarting(() => { Record(ctx.Response.StatusCode); return Task.CompletedTask; });
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            Record(0);
            return;
        }
        catch (Exception ex) when (!ctx.Response.HasStarted)
        {
            ctx.Response.Clear();
            ctx.Response.StatusCode = 500;
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync("Internal emulator error: " + ex, ctx.RequestAborted).ConfigureAwait(false);
        }
        if (ctx.RequestAborted.IsCancellationRequested || ctx.Items.ContainsKey(DroppedKey)) Record(0);
        else if (!ctx.Response.HasStarted) await ctx.Response.StartAsync(ctx.RequestAborted).ConfigureAwait(false);
        Record(ctx.Response.StatusCode);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class EmbeddedLifetime : Microsoft.Extensions.Hosting.IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

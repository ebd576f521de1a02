using System.CommandLine;
using System.Text.RegularExpressions;
using MLRay.Registry;
using Spectre.Console;
using WebhookEvent = MLRay.Registry.MlflowClient.WebhookEvent;

namespace MLRay.Cli.Commands;

/// <summary>
/// <c>mlray webhook register</c> and <c>mlray webhook test</c>: MLflow's webhook management REST API
/// (contracts/mlflow.md §1.8), so the receiver hears about registry changes.
/// </summary>
public static partial class WebhookCommands
{
    /// <summary>The events the receiver handles, UPPERCASE (MLflow answers 500 to lowercase enum names).</summary>
    public static readonly IReadOnlyList<WebhookEvent> Events =
    [
        new("MODEL_VERSION", "CREATED"),
        new("MODEL_VERSION_ALIAS", "CREATED"),
        new("MODEL_VERSION_ALIAS", "DELETED"),
        new("MODEL_VERSION_TAG", "SET"),
        new("MODEL_VERSION_TAG", "DELETED"),
        new("REGISTERED_MODEL", "CREATED"),
    ];

    public const string DefaultName = "mlray";
    public const string Description = "MLRay: deploy registry changes to Ray Serve";

    private static readonly Argument<FileInfo> ConfigArgument = new("config") { Description = "Path to config.yml" };

    [GeneratedRegex("^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex NamePattern();

    private static Option<string> NameOption() => new("--name")
    {
        Description = "The webhook's name in MLflow",
        DefaultValueFactory = _ => DefaultName,
    };

    public static Command Create() => new("webhook", "Manage the MLflow webhook that feeds the MLRay receiver")
    {
        Register(),
        Test(),
    };

    public static Command Register()
    {
        var url = new Option<string>("--url") { Description = "The receiver's webhook URL (e.g. https://mlray-receiver.example/webhooks/mlflow)", Required = true };
        var name = NameOption();
        var secretEnv = new Option<string?>("--secret-env") { Description = "Name of an environment variable holding the signing secret (default: the config's receiver.webhook_secret_env / _file)" };
        var noSecret = new Option<bool>("--no-secret") { Description = "Register without a signing secret (only when none is configured)" };
        var command = new Command("register", "Create the MLflow webhook for the receiver, or update the one with that name")
        {
            ConfigArgument, url, name, secretEnv, noSecret,
        };
        command.SetAction((parse, ct) =>
        {
            var configFile = parse.GetValue(ConfigArgument)!;
            return DeployCommands.Run(configFile, json: false, async (services, console, _) =>
            {
                var hookName = parse.GetValue(name)!;
                var hookUrl = parse.GetValue(url)!;
                ValidateName(hookName);
                ValidateUrl(hookUrl);
                var secret = ResolveSecret(services.Config, configFile, parse.GetValue(secretEnv), parse.GetValue(noSecret));

                var mlflow = services.Mlflow;
                var existing = (await mlflow.ListWebhooksAsync(ct)).Where(h => h.Name == hookName).ToList();
                MlflowClient.Webhook hook;
                if (existing.Count == 0)
                {
                    hook = await mlflow.CreateWebhookAsync(new MlflowClient.WebhookFields
                    {
                        Name = hookName, Url = hookUrl, Events = Events, Secret = secret, Description = Description,
                    }, ct);
                    console.MarkupLine($"created webhook [bold]{Markup.Escape(hookName)}[/]");
                }
                else
                {
                    if (existing.Count > 1)
                        console.MarkupLine($"[yellow]warning:[/] {existing.Count} webhooks are named {Markup.Escape(hookName)}; updating {Markup.Escape(existing[0].WebhookId)}");
                    // PATCH: empty or omitted fields stay unchanged, so an existing secret cannot be cleared here.
                    hook = await mlflow.UpdateWebhookAsync(existing[0].WebhookId, new MlflowClient.WebhookFields
                    {
                        Url = hookUrl, Events = Events, Secret = secret, Description = Description, Status = "ACTIVE",
                    }, ct);
                    console.MarkupLine($"updated webhook [bold]{Markup.Escape(hookName)}[/]");
                }
                console.WriteLine($"  id:     {hook.WebhookId}");
                console.WriteLine($"  url:    {hook.Url}");
                console.WriteLine($"  events: {string.Join(", ", (hook.Events ?? []).Select(e => e.ToString()))}");
                console.WriteLine($"  status: {hook.Status}");
                console.WriteLine($"  signed: {(secret is null ? "no (--no-secret)" : "yes")}");
                return ExitCodes.Success;
            }, ct);
        });
        return command;
    }

    public static Command Test()
    {
        var name = NameOption();
        var command = new Command("test", "Ask MLflow to send the webhook a test delivery, and show the receiver's answer")
        {
            ConfigArgument, name,
        };
        command.SetAction((parse, ct) => DeployCommands.Run(parse.GetValue(ConfigArgument)!, json: false, async (services, console, _) =>
        {
            var hookName = parse.GetValue(name)!;
            var hook = (await services.Mlflow.ListWebhooksAsync(ct)).FirstOrDefault(h => h.Name == hookName);
            if (hook is null)
            {
                Console.Error.WriteLine($"error: MLflow has no webhook named '{hookName}' (create it with: mlray webhook register <config> --url <receiver url>)");
                return ExitCodes.ServiceError;
            }
            var result = await services.Mlflow.TestWebhookAsync(hook.WebhookId, ct: ct);
            console.MarkupLine($"webhook [bold]{Markup.Escape(hookName)}[/] ({Markup.Escape(hook.WebhookId)}) → {Markup.Escape(hook.Url ?? "")}");
            console.MarkupLine(result.Success ? "  success: [green]true[/]" : "  success: [red]false[/]");
            console.WriteLine($"  status:  {(result.ResponseStatus is { } s ? s.ToString() : "none")}");
            if (!string.IsNullOrEmpty(result.ResponseBody))
                console.WriteLine($"  body:    {Shorten(result.ResponseBody)}");
            if (!string.IsNullOrEmpty(result.ErrorMessage))
                console.WriteLine($"  error:   {result.ErrorMessage}");
            return result.Success ? ExitCodes.Success : ExitCodes.ModelsNotRunning;
        }, ct));
        return command;
    }

    /// <summary>
    /// <c>--secret-env</c> wins; else the config's receiver secret; else nothing, which needs <c>--no-secret</c>.
    /// The secret is never printed.
    /// </summary>
    internal static string? ResolveSecret(MLRayConfig config, FileInfo configFile, string? secretEnv, bool noSecret)
    {
        if (noSecret && secretEnv is not null)
            throw new ConfigException("--no-secret", "cannot be combined with --secret-env");
        if (secretEnv is not null)   // read as the config's receiver.webhook_secret_env is: unset or empty is the same error
            return SecretSource.Variable(ProcessEnvironment.WithDotEnv(configFile.DirectoryName), secretEnv, "--secret-env").Read();
        if (config.Pipeline.WebhookSecretSource is { } configured)
        {
            if (noSecret)
                throw new ConfigException("--no-secret", "the config sets a webhook secret (receiver.webhook_secret_env / webhook_secret_file), so the receiver would reject unsigned deliveries; drop --no-secret");
            return configured.Read(); // here, where it is used: plan, deploy and status do not need it
        }
        if (noSecret) return null;
        throw new ConfigException("receiver.webhook_secret_env",
            "no webhook secret: set receiver.webhook_secret_env or receiver.webhook_secret_file in the config, pass --secret-env VAR, or --no-secret to register an unsigned webhook (the receiver then needs receiver.allow_unsigned: true)");
    }

    private static void ValidateName(string name)
    {
        if (!NamePattern().IsMatch(name))
            throw new ConfigException("--name", $"'{name}' is not a webhook name (1-63 characters: letters and digits at both ends, '.', '_' or '-' inside)");
    }

    private static void ValidateUrl(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || string.IsNullOrEmpty(uri.Host))
            throw new ConfigException("--url", $"'{url}' is not an http(s) URL with a host");
        if (url.Length > 500)
            throw new ConfigException("--url", "longer than MLflow's 500-character limit");
    }

    private static string Shorten(string text) => text.Length <= 300 ? text.ReplaceLineEndings(" ") : text[..299].ReplaceLineEndings(" ") + "…";
}

using System.Globalization;
using System.Text.RegularExpressions;
using MLRay.Yaml;
using YamlDotNet.RepresentationModel;

namespace MLRay.Configuration;

/// <summary>
/// Loads <c>config.yml</c>. Walks the YAML tree itself (rather than deserialising into classes) so every error
/// names its key path, unknown keys are refused, and nothing is contacted before the file is known to be valid.
/// </summary>
public static partial class ConfigLoader
{
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")]
    private static partial Regex EnvReference();

    public static MLRayConfig LoadFile(string path, IEnvironment? environment = null)
    {
        if (!File.Exists(path))
            throw new ConfigException("", $"config file '{path}' does not exist");
        var env = environment ?? ProcessEnvironment.WithDotEnv(Path.GetDirectoryName(Path.GetFullPath(path)));
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException("", $"cannot read config file '{path}': {e.Message}");
        }
        return Load(text, env, path);
    }

    /// <summary>Loads config text; <paramref name="source"/> names it in errors.</summary>
    public static MLRayConfig Load(string yaml, IEnvironment env, string source = "config.yml")
    {
        var root = ParseRoot(yaml, source);
        var reader = new Node(root, "", env);
        reader.RefuseUnknownKeys("mlray", "mlflow", "ray_clusters", "rabbitmq", "receiver", "retry", "package_index");
        var retry = ReadRetry(reader.Child("retry"), new RetrySettings());

        var mlrayNode = reader.Child("mlray")?.Also(n => n.RefuseUnknownKeys("working_dir", "artifact_cache"));
        var workingDir = mlrayNode?.OptionalString("working_dir") ?? ".mlray";
        var artifactCache = mlrayNode?.OptionalBool("artifact_cache") ?? true;

        var mlflowNode = reader.Child("mlflow");
        mlflowNode?.RefuseUnknownKeys("tracking_uri", "model_name_suffix", "alias");
        var trackingText = mlflowNode?.OptionalString("tracking_uri") ?? env.Get("MLFLOW_TRACKING_URI");
        var clustersNode = reader.RequiredSequence("ray_clusters");
        var clusters = new List<RayClusterConfig>();
        for (var i = 0; i < clustersNode.Count; i++)
            clusters.Add(ReadCluster(clustersNode[i], trackingText, retry));

        var duplicate = clusters.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ConfigException("ray_clusters", $"cluster name '{duplicate.Key}' is used more than once");

        var trackingUri = trackingText is null
            ? throw new ConfigException("mlflow.tracking_uri",
                "not set: give mlflow.tracking_uri, or MLFLOW_TRACKING_URI in the environment or a .env file")
            : ParseHttpUri(trackingText, mlflowNode?.Has("tracking_uri") == true ? "mlflow.tracking_uri" : "MLFLOW_TRACKING_URI");

        var suffix = mlflowNode?.OptionalString("model_name_suffix") ?? MlflowSettings.DefaultModelNameSuffix;
        if (suffix.Length == 0) throw new ConfigException("mlflow.model_name_suffix", "must not be empty");
        var alias = mlflowNode?.OptionalString("alias");
        if (alias is not null && !AliasPattern().IsMatch(alias))
            throw new ConfigException("mlflow.alias", $"'{alias}' is not a valid MLflow alias (letters, digits, '_' and '-')");

        return new MLRayConfig
        {
            WorkingDir = workingDir,
            ArtifactCache = artifactCache,
            Clusters = clusters,
            Pipeline = ReadPipeline(reader, env, source),
            PackageIndex = ReadPackageIndex(reader.Child("package_index"), env),
            Mlflow = new MlflowSettings
            {
                TrackingUri = trackingUri,
                TrackingUriKey = mlflowNode?.Has("tracking_uri") == true ? "mlflow.tracking_uri" : "MLFLOW_TRACKING_URI",
                ModelNameSuffix = suffix,
                Alias = alias,
                Credentials = new MlflowCredentials(
                    env.Get("MLFLOW_TRACKING_USERNAME"), env.Get("MLFLOW_TRACKING_PASSWORD"), env.Get("MLFLOW_TRACKING_TOKEN")),
                S3 = new S3Settings
                {
                    EndpointUrl = env.Get("MLFLOW_S3_ENDPOINT_URL"),
                    AccessKeyId = env.Get("AWS_ACCESS_KEY_ID"),
                    SecretAccessKey = env.Get("AWS_SECRET_ACCESS_KEY"),
                    Region = env.Get("AWS_REGION") ?? env.Get("AWS_DEFAULT_REGION") ?? "us-east-1",
                    IgnoreTls = string.Equals(env.Get("MLFLOW_S3_IGNORE_TLS"), "true", StringComparison.OrdinalIgnoreCase),
                },
            },
        };
    }

    private static PipelineSettings ReadPipeline(Node root, IEnvironment env, string source)
    {
        var rabbit = root.Child("rabbitmq");
        rabbit?.RefuseUnknownKeys("uri");
        var uriText = rabbit?.OptionalString("uri") ?? PipelineSettings.RabbitMqUriFrom(env);
        if (!Uri.TryCreate(uriText, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
            throw new ConfigException(rabbit?.Has("uri") == true ? "rabbitmq.uri" : "RABBITMQ_URI", "not an amqp:// or amqps:// URI");

        var receiver = root.Child("receiver");
        receiver?.RefuseUnknownKeys("webhook_secret_env", "webhook_secret_file", "ops_token_env", "ops_token_file", "allow_unsigned", "resync_interval", "dedup_window");
        var secret = ReadSecret(receiver, "webhook_secret", env, source);
        var allowUnsigned = false;
        if (receiver?.OptionalString("allow_unsigned") is { } allowText)
        {
            if (!bool.TryParse(allowText.Trim(), out allowUnsigned))
                throw new ConfigException("receiver.allow_unsigned", $"'{allowText}' is not true or false");
            // Decided from the configured source, not the value: the value is not read here.
            if (allowUnsigned && secret is not null)
                throw new ConfigException("receiver.allow_unsigned",
                    "true, but a webhook secret is configured too (receiver.webhook_secret_env / webhook_secret_file): keep one");
        }
        return new PipelineSettings
        {
            RabbitMqUri = uri,
            RabbitMqUriKey = rabbit?.Has("uri") == true ? "rabbitmq.uri" : env.Get("RABBITMQ_URI") is not null ? "RABBITMQ_URI" : "default rabbitmq.uri",
            WebhookSecretSource = secret,
            AllowUnsignedWebhooks = allowUnsigned,
            OpsTokenSource = ReadSecret(receiver, "ops_token", env, source),
            ResyncInterval = receiver?.OptionalDuration("resync_interval") ?? PipelineSettings.DefaultResyncInterval,
            DedupWindow = receiver?.OptionalDuration("dedup_window") ?? PipelineSettings.DefaultDedupWindow,
        };
    }

    /// <summary>
    /// Where a secret comes from: the variable <c>receiver.&lt;key&gt;_env</c> names, or the file <c>receiver.&lt;key&gt;_file</c>
    /// names; null when neither is set. Neither is read here: only the processes that use the secret (the receiver,
    /// <c>mlray webhook register</c>) need it, and they fail then, naming the key. The value itself never goes in the config file.
    /// </summary>
    private static SecretSource? ReadSecret(Node? receiver, string key, IEnvironment env, string source)
    {
        if (receiver?.OptionalString($"{key}_env") is { } variable)
            return SecretSource.Variable(env, variable, receiver.PathOf($"{key}_env"), source);
        return receiver?.OptionalString($"{key}_file") is { } file ? SecretSource.File(file, receiver.PathOf($"{key}_file"), source) : null;
    }

    [GeneratedRegex(@"^[\w\-]{1,255}$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex ClusterNamePattern();

    /// <summary><c>retry: {attempts: 3, delays: [1m, 5m, 15m]}</c>; each key falls back to <paramref name="fallback"/>.</summary>
    private static RetrySettings ReadRetry(Node? node, RetrySettings fallback)
    {
        if (node is null) return fallback;
        node.RefuseUnknownKeys("attempts", "delays");
        var attempts = fallback.Attempts;
        if (node.OptionalString("attempts") is { } text && (!int.TryParse(text, out attempts) || attempts < 1 || attempts > 100))
            throw new ConfigException(node.PathOf("attempts"), $"'{text}' is not a whole number from 1 to 100");
        var delays = fallback.Delays;
        if (node.Child("delays") is { } delaysNode)
        {
            var list = delaysNode.StringList();
            if (list.Count == 0) throw new ConfigException(node.PathOf("delays"), "must list at least one duration");
            delays = list.Select((d, i) => ParseDuration(d) is { } delay && delay >= TimeSpan.FromSeconds(1) ? delay
                : throw new ConfigException($"{node.PathOf("delays")}[{i}]", $"'{d}' is not a duration of at least 1s (examples: 90s, 10m, 1h)")).ToList();
        }
        return new RetrySettings { Attempts = attempts, Delays = delays };
    }

    private static RayClusterConfig ReadCluster(Node node, string? defaultTrackingUri, RetrySettings retry)
    {
        node.RefuseUnknownKeys("name", "python_version", "dashboard_address", "mlflow_tracking_uri",
            "env_vars", "extra_pip", "auth_token_env", "deploy_timeout", "serve_address", "retry", "kuberay",
            "platform", "libc", "preflight");
        var name = node.RequiredString("name");
        if (!ClusterNamePattern().IsMatch(name))
            throw new ConfigException(node.PathOf("name"), $"'{name}' is not a valid cluster name (letters, digits, '.', '_' and '-')");
        var pythonText = node.RequiredString("python_version");
        if (!PythonVersionSpec.TryParse(pythonText, out var python))
            throw new ConfigException(node.PathOf("python_version"),
                $"'{pythonText}' is not a Python version: write it quoted as '3.9' (any 3.9.x) or '3.9.22' (exact)");

        var trackingText = node.OptionalString("mlflow_tracking_uri") ?? defaultTrackingUri
            ?? throw new ConfigException(node.PathOf("mlflow_tracking_uri"),
                "not set and no mlflow.tracking_uri / MLFLOW_TRACKING_URI to fall back on");

        var envVars = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node.Child("env_vars") is { } envNode)
            foreach (var (key, value) in envNode.StringMap())
                envVars[key] = value;

        var extraPip = node.Child("extra_pip")?.StringList() ?? [];
        foreach (var (pin, i) in extraPip.Select((p, i) => (p, i)))
            if (RequirementsFile.PackageName(pin) is null)
                throw new ConfigException($"{node.PathOf("extra_pip")}[{i}]", $"'{pin}' is not a pip requirement");

        var tokenEnv = node.OptionalString("auth_token_env");
        if (tokenEnv is not null && !Regex.IsMatch(tokenEnv, "^[A-Za-z_][A-Za-z0-9_]*$"))
            throw new ConfigException(node.PathOf("auth_token_env"),
                // The value is not echoed: what sits here by mistake is most often the token itself.
                "is not an environment variable name (name the variable that holds the token, not the token)");

        var timeout = node.OptionalDuration("deploy_timeout") ?? RayClusterConfig.DefaultDeployTimeout;

        return new RayClusterConfig
        {
            Name = name,
            PythonVersion = python,
            DashboardAddress = ParseHttpUri(node.RequiredString("dashboard_address"), node.PathOf("dashboard_address")),
            MlflowTrackingUri = ParseHttpUri(trackingText, node.Has("mlflow_tracking_uri") ? node.PathOf("mlflow_tracking_uri") : "mlflow.tracking_uri"),
            EnvVars = envVars,
            ExtraPip = extraPip,
            AuthTokenEnv = tokenEnv,
            DeployTimeout = timeout,
            Retry = ReadRetry(node.Child("retry"), retry),
            ServeAddress = node.OptionalString("serve_address") is { } serve ? ParseHttpUri(serve, node.PathOf("serve_address")) : null,
            KubeRay = node.Child("kuberay") is { } kuberay ? ReadKubeRay(kuberay) : new KubeRaySettings(),
            Architecture = node.OptionalString("platform") is { } platform ? ParsePlatform(platform, node.PathOf("platform")) : "x86_64",
            Libc = node.OptionalString("libc") is { } libc ? ParseLibc(libc, node.PathOf("libc")) : LibcVersion.Default,
            Preflight = node.OptionalString("preflight")?.Trim().ToLowerInvariant() switch
            {
                null or "block" => PreflightMode.Block,
                "warn" => PreflightMode.Warn,
                "off" or "false" => PreflightMode.Off,
                var other => throw new ConfigException(node.PathOf("preflight"), $"'{other}' is not block, warn or off"),
            },
        };
    }

    /// <summary>The longest duration accepted: timers and cancellation tokens refuse more than about 49 days.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);

    /// <summary>Durations: <c>90s</c>, <c>10m</c>, <c>1h</c>, <c>1h30m</c>, or a plain number of seconds; null unless positive and at most <see cref="MaxDuration"/>.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        text = text.Trim();
        double seconds;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds))
        {
            var matches = Regex.Matches(text, @"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)");
            if (matches.Count == 0 || string.Concat(matches.Select(m => m.Value)) != text) return null;
            seconds = matches.Sum(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * m.Groups[2].Value switch
            {
                "ms" => 0.001,
                "s" => 1,
                "m" => 60,
                _ => 3600,
            });
        }
        // Checked as a double first: TimeSpan.FromSeconds throws on NaN, infinity and overflow.
        return seconds > 0 && seconds <= MaxDuration.TotalSeconds ? TimeSpan.FromSeconds(seconds) : null;
    }

    private static Uri ParseHttpUri(string text, string path)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ConfigException(path, $"'{WithoutCredentials(text)}' is not an http(s) URL");
        return uri;
    }

    /// <summary>A URL as error messages may show it: whatever precedes an '@' after the scheme (user:password) is hidden.</summary>
    internal static string WithoutCredentials(string text) => UserInfo().Replace(text, "$1***@");

    [GeneratedRegex(@"^(\s*[^:/?#\s]*:?//)[^/?#@]*@")]
    private static partial Regex UserInfo();

    private static YamlMappingNode ParseRoot(string yaml, string source)
    {
        YamlNode? root;
        try
        {
            root = YamlText.Parse(yaml, source);
        }
        catch (YamlTextException e)
        {
            throw new ConfigException("", $"{source} is not valid YAML: {e.Where}");
        }
        return root as YamlMappingNode
            ?? throw new ConfigException("", $"{source} must be a YAML mapping with at least 'ray_clusters'");
    }

    /// <summary>A position in the YAML tree that knows its key path and expands <c>${VAR}</c> in scalars.</summary>
    private sealed class Node(YamlNode yaml, string path, IEnvironment env)
    {
        public string Path => path;
        public string PathOf(string key) => path.Length == 0 ? key : $"{path}.{key}";

        private YamlMappingNode Mapping => yaml as YamlMappingNode
            ?? throw new ConfigException(path, "expected a mapping of keys to values");

        public Node Also(Action<Node> check) { check(this); return this; }

        public bool IsScalar => yaml is YamlScalarNode;

        public bool Has(string key) => Mapping.Children.ContainsKey(new YamlScalarNode(key));

        public void RefuseUnknownKeys(params string[] known)
        {
            foreach (var key in Mapping.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? key.ToString();
                if (!known.Contains(name))
                    throw new ConfigException(PathOf(name), $"unknown key (known here: {string.Join(", ", known)})");
            }
        }

        public Node? Child(string key)
        {
            if (!Mapping.Children.TryGetValue(new YamlScalarNode(key), out var child)) return null;
            if (child is YamlScalarNode { Value: null or "" or "~" or "null" } s && s.Style == YamlDotNet.Core.ScalarStyle.Plain) return null;
            return new Node(child, PathOf(key), env);
        }

        public string? OptionalString(string key) => Child(key)?.Scalar();

        public TimeSpan? OptionalDuration(string key) => OptionalString(key) is { } text
            ? ParseDuration(text) ?? throw new ConfigException(PathOf(key), $"'{text}' is not a duration of at most 30 days (examples: 90s, 10m, 1h, or plain seconds)")
            : null;

        public bool? OptionalBool(string key) => OptionalString(key)?.Trim().ToLowerInvariant() switch
        {
            null => null,
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            var other => throw new ConfigException(PathOf(key), $"'{other}' is not true or false"),
        };

        public string RequiredString(string key)
        {
            var value = OptionalString(key) ?? throw new ConfigException(PathOf(key), "required but missing");
            if (value.Trim().Length == 0) throw new ConfigException(PathOf(key), "required but empty");
            return value;
        }

        public List<Node> RequiredSequence(string key)
        {
            var child = Child(key) ?? throw new ConfigException(PathOf(key), "required but missing: list at least one Ray cluster");
            if (child.Yaml is not YamlSequenceNode seq)
                throw new ConfigException(child.Path, "expected a list");
            if (seq.Children.Count == 0)
                throw new ConfigException(child.Path, "must list at least one Ray cluster");
            return seq.Children.Select((n, i) => new Node(n, $"{child.Path}[{i}]", env)).ToList();
        }

        private YamlNode Yaml => yaml;

        public string Scalar()
        {
            if (yaml is not YamlScalarNode scalar)
                throw new ConfigException(path, "expected a single value, not a list or mapping");
            return Expand(scalar.Value ?? "");
        }

        public List<string> StringList()
        {
            if (yaml is not YamlSequenceNode seq)
                throw new ConfigException(path, "expected a list of strings");
            return seq.Children.Select((n, i) => new Node(n, $"{path}[{i}]", env).Scalar()).ToList();
        }

        public IEnumerable<(string Key, string Value)> StringMap()
        {
            foreach (var (key, value) in Mapping.Children)
            {
                var name = ((YamlScalarNode)key).Value ?? "";
                yield return (name, new Node(value, PathOf(name), env).Scalar());
            }
        }

        private string Expand(string value) => EnvReference().Replace(value, m =>
        {
            var name = m.Groups[1].Value;
            return env.Get(name) ?? (m.Groups[2].Success
                ? m.Groups[2].Value
                : throw new ConfigException(path, $"refers to ${{{name}}}, which is not set in the environment or .env (write ${{{name}:-default}} for a default)"));
        });
    }
}

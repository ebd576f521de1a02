using System.Globalization;
using System.Text.RegularExpressions;
using MLRay.Yaml;
using YamlDotNet.Core;
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

    /// <summary>
    /// Loads config text; <paramref name="source"/> names it in errors. Every problem found is reported at once (in file
    /// order, with its line and column): each key is read on its own, so one bad value does not hide the next.
    /// </summary>
    public static MLRayConfig Load(string yaml, IEnvironment env, string source = "config.yml")
    {
        var root = ParseRoot(yaml, source);
        var positions = Positions(root);
        var problems = new Problems();
        var reader = new Node(root, "", env);
        problems.Check(() => reader.RefuseUnknownKeys("mlray", "mlflow", "ray_clusters", "rabbitmq", "receiver", "retry", "package_index"));
        var retry = problems.Check(() => ReadRetry(reader.Child("retry"), new RetrySettings(), problems)) ?? new RetrySettings();

        var mlrayNode = problems.Check(() => reader.Child("mlray"));
        problems.Check(() => mlrayNode?.RefuseUnknownKeys("working_dir", "artifact_cache"));
        var workingDir = problems.Check(() => mlrayNode?.OptionalString("working_dir")) ?? MLRayConfig.DefaultWorkingDir;
        var artifactCache = problems.Check(() => mlrayNode?.OptionalBool("artifact_cache")) ?? MLRayConfig.DefaultArtifactCache;

        var mlflowNode = problems.Check(() => reader.Child("mlflow"));
        problems.Check(() => mlflowNode?.RefuseUnknownKeys("tracking_uri", "model_name_suffix", "alias", "challenger_alias"));
        var failures = problems.Failures;
        var trackingText = problems.Check(() => mlflowNode?.OptionalString("tracking_uri") ?? env.Get("MLFLOW_TRACKING_URI"));
        // Missing (rather than unreadable, which is reported already): the clusters without their own say so too.
        var trackingMissing = trackingText is null && problems.Failures == failures;
        var trackingUri = problems.Check(() => trackingText is null
            ? trackingMissing ? throw new ConfigException("mlflow.tracking_uri",
                "not set: give mlflow.tracking_uri, or MLFLOW_TRACKING_URI in the environment or a .env file") : null
            : ParseHttpUri(trackingText, mlflowNode?.Has("tracking_uri") == true ? "mlflow.tracking_uri" : "MLFLOW_TRACKING_URI"));

        var clusters = new List<RayClusterConfig>();
        foreach (var clusterNode in problems.Check(() => reader.RequiredSequence("ray_clusters")) ?? [])
            if (problems.Check(() => ReadCluster(clusterNode, trackingUri, trackingMissing, retry, problems)) is { } cluster)
                clusters.Add(cluster);
        problems.Check(() =>
        {
            var duplicate = clusters.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new ConfigException("ray_clusters", $"cluster name '{duplicate.Key}' is used more than once");
        });

        var suffix = problems.Check(() => mlflowNode?.OptionalString("model_name_suffix") is { } text
            ? text.Length > 0 ? text : throw new ConfigException("mlflow.model_name_suffix", "must not be empty")
            : MlflowSettings.DefaultModelNameSuffix);
        var alias = problems.Check(() => mlflowNode?.OptionalString("alias") is { } text
            ? AliasPattern().IsMatch(text) ? text : throw new ConfigException("mlflow.alias", $"'{text}' is not a valid MLflow alias (letters, digits, '_' and '-')")
            : null);
        var challengerAlias = problems.Check(() => mlflowNode?.OptionalString("challenger_alias") is { } text
            ? !AliasPattern().IsMatch(text) ? throw new ConfigException("mlflow.challenger_alias", $"'{text}' is not a valid MLflow alias (letters, digits, '_' and '-')")
            : text == alias ? throw new ConfigException("mlflow.challenger_alias", $"'{text}' is also mlflow.alias: the challenger must be another alias")
            : text
            : null);
        var pipeline = problems.Check(() => ReadPipeline(reader, env, source, positions, problems));
        var packageIndex = problems.Check(() => ReadPackageIndex(reader.Child("package_index"), env, problems));

        if (problems.Found.Count > 0)
            throw new ConfigException(InFileOrder(problems.Found, positions), source);
        return new MLRayConfig
        {
            WorkingDir = workingDir,
            ArtifactCache = artifactCache,
            Clusters = clusters,
            Pipeline = pipeline!,
            PackageIndex = packageIndex!,
            Mlflow = new MlflowSettings
            {
                TrackingUri = trackingUri!,
                TrackingUriKey = mlflowNode?.Has("tracking_uri") == true ? "mlflow.tracking_uri" : "MLFLOW_TRACKING_URI",
                ModelNameSuffix = suffix!,
                Alias = alias,
                ChallengerAlias = challengerAlias,
                Credentials = new MlflowCredentials(
                    env.Get("MLFLOW_TRACKING_USERNAME"), env.Get("MLFLOW_TRACKING_PASSWORD"), env.Get("MLFLOW_TRACKING_TOKEN")),
                S3 = new S3Settings
                {
                    EndpointUrl = env.Get("MLFLOW_S3_ENDPOINT_URL"),
                    AccessKeyId = env.Get("AWS_ACCESS_KEY_ID"),
                    SecretAccessKey = env.Get("AWS_SECRET_ACCESS_KEY"),
                    Region = env.Get("AWS_REGION") ?? env.Get("AWS_DEFAULT_REGION") ?? S3Settings.DefaultRegion,
                    IgnoreTls = string.Equals(env.Get("MLFLOW_S3_IGNORE_TLS"), "true", StringComparison.OrdinalIgnoreCase),
                },
            },
        };
    }

    private static PipelineSettings ReadPipeline(Node root, IEnvironment env, string source, IReadOnlyDictionary<string, Mark> positions, Problems problems)
    {
        var rabbit = problems.Check(() => root.Child("rabbitmq"));
        problems.Check(() => rabbit?.RefuseUnknownKeys("uri", "uris"));
        var rabbitKey = rabbit?.Has("uris") == true ? "rabbitmq.uris"
            : rabbit?.Has("uri") == true ? "rabbitmq.uri"
            : env.Get(PipelineSettings.RabbitMqUriVariable) is not null ? PipelineSettings.RabbitMqUriVariable : "default rabbitmq.uri";
        var uris = problems.Check(() =>
        {
            if (rabbit?.Has("uri") == true && rabbit.Has("uris"))
                throw new ConfigException("rabbitmq.uris", "give either rabbitmq.uri or rabbitmq.uris, not both");
            // A list names each node's key (rabbitmq.uris[1]); the comma form has one key for all of them.
            IReadOnlyList<(string Key, string Text)> nodes = rabbit?.Has("uris") == true
                ? [.. (rabbit.Child("uris")?.StringList() ?? []).Select((text, i) => ($"rabbitmq.uris[{i}]", text))]
                : [.. RabbitMqNodes.Split(rabbit?.OptionalString("uri") ?? PipelineSettings.RabbitMqUriFrom(env))
                    .Select(text => (rabbitKey == "default rabbitmq.uri" ? PipelineSettings.RabbitMqUriVariable : rabbitKey, text))];
            return RabbitMqNodes.Parse(nodes, rabbitKey);
        });

        var receiver = problems.Check(() => root.Child("receiver"));
        problems.Check(() => receiver?.RefuseUnknownKeys("webhook_secret_env", "webhook_secret_file", "ops_token_env", "ops_token_file", "allow_unsigned", "resync_interval", "dedup_window"));
        var secret = problems.Check(() => ReadSecret(receiver, "webhook_secret", env, source, positions));
        var allowUnsigned = problems.Check(() =>
        {
            if (receiver?.OptionalString("allow_unsigned") is not { } allowText) return false;
            if (!bool.TryParse(allowText.Trim(), out var allow))
                throw new ConfigException("receiver.allow_unsigned", $"'{allowText}' is not true or false");
            // Decided from the configured source, not the value: the value is not read here.
            if (allow && secret is not null)
                throw new ConfigException("receiver.allow_unsigned",
                    "true, but a webhook secret is configured too (receiver.webhook_secret_env / webhook_secret_file): keep one");
            return allow;
        });
        return new PipelineSettings
        {
            RabbitMqUris = uris ?? [new Uri(PipelineSettings.DefaultRabbitMqUri)],
            RabbitMqUriKey = rabbitKey,
            WebhookSecretSource = secret,
            AllowUnsignedWebhooks = allowUnsigned,
            OpsTokenSource = problems.Check(() => ReadSecret(receiver, "ops_token", env, source, positions)),
            ResyncInterval = problems.Check(() => receiver?.OptionalDuration("resync_interval")) ?? PipelineSettings.DefaultResyncInterval,
            DedupWindow = problems.Check(() => receiver?.OptionalDuration("dedup_window")) ?? PipelineSettings.DefaultDedupWindow,
        };
    }

    /// <summary>
    /// Where a secret comes from: the variable <c>receiver.&lt;key&gt;_env</c> names, or the file <c>receiver.&lt;key&gt;_file</c>
    /// names; null when neither is set. Neither is read here: only the processes that use the secret (the receiver,
    /// <c>mlray webhook register</c>) need it, and they fail then, naming the key. The value itself never goes in the config file.
    /// </summary>
    private static SecretSource? ReadSecret(Node? receiver, string key, IEnvironment env, string source, IReadOnlyDictionary<string, Mark> positions)
    {
        if (receiver?.OptionalString($"{key}_env") is { } variable)
        {
            var at = Located(new ConfigProblem(receiver.PathOf($"{key}_env"), ""), positions);
            return SecretSource.Variable(env, variable, at.KeyPath, source, at.Line, at.Column);
        }
        if (receiver?.OptionalString($"{key}_file") is not { } file) return null;
        var fileAt = Located(new ConfigProblem(receiver.PathOf($"{key}_file"), ""), positions);
        return SecretSource.File(file, fileAt.KeyPath, source, fileAt.Line, fileAt.Column);
    }

    [GeneratedRegex(@"^[\w\-]{1,255}$")]
    private static partial Regex AliasPattern();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex ClusterNamePattern();

    /// <summary><c>retry: {attempts: 3, delays: [1m, 5m, 15m]}</c>; each key falls back to <paramref name="fallback"/>.</summary>
    private static RetrySettings ReadRetry(Node? node, RetrySettings fallback, Problems problems)
    {
        if (node is null) return fallback;
        problems.Check(() => node.RefuseUnknownKeys("attempts", "delays"));
        var attempts = problems.Check(() => node.OptionalString("attempts") is not { } text ? fallback.Attempts
            : int.TryParse(text, out var n) && n is >= 1 and <= 100 ? n
            : throw new ConfigException(node.PathOf("attempts"), $"'{text}' is not a whole number from 1 to 100"));
        var delays = fallback.Delays;
        if (problems.Check(() => node.Child("delays")?.StringList()) is { } list)
        {
            if (list.Count == 0) problems.Add(new ConfigException(node.PathOf("delays"), "must list at least one duration"));
            delays = list.Select((d, i) => problems.Check(() => ParseDuration(d) is { } delay && delay >= TimeSpan.FromSeconds(1) ? delay
                : throw new ConfigException($"{node.PathOf("delays")}[{i}]", $"'{d}' is not a duration of at least 1s (examples: 90s, 10m, 1h)"))).ToList();
        }
        return new RetrySettings { Attempts = attempts, Delays = delays };
    }

    /// <summary>One <c>ray_clusters</c> entry; null when it has a problem (each of them collected).</summary>
    /// <param name="defaultTracking">The top-level tracking URI; null when it is missing or wrong (reported there).</param>
    /// <param name="trackingMissing">No top-level tracking URI at all: a cluster without its own has none either.</param>
    private static RayClusterConfig? ReadCluster(Node node, Uri? defaultTracking, bool trackingMissing, RetrySettings retry, Problems problems)
    {
        var failures = problems.Failures;
        T Read<T>(Func<T> read) => problems.Check(read)!;
        problems.Check(() => node.RefuseUnknownKeys("name", "python_version", "dashboard_address", "mlflow_tracking_uri",
            "env_vars", "extra_pip", "auth_token_env", "deploy_timeout", "serve_address", "retry", "kuberay",
            "platform", "libc", "preflight", "smoke_test", "smoke_test_timeout", "traffic", "gateway", "rollout"));
        var name = Read(() =>
        {
            var text = node.RequiredString("name");
            return ClusterNamePattern().IsMatch(text) ? text
                : throw new ConfigException(node.PathOf("name"), $"'{text}' is not a valid cluster name (letters, digits, '.', '_' and '-')");
        });
        var python = Read(() =>
        {
            var text = node.RequiredString("python_version");
            return PythonVersionSpec.TryParse(text, out var version) ? version
                : throw new ConfigException(node.PathOf("python_version"),
                    $"'{text}' is not a Python version: write it quoted as '3.9' (any 3.9.x) or '3.9.22' (exact)");
        });
        var dashboard = Read(() => ParseHttpUri(node.RequiredString("dashboard_address"), node.PathOf("dashboard_address")));
        var tracking = Read(() => node.OptionalString("mlflow_tracking_uri") is { } own ? ParseHttpUri(own, node.PathOf("mlflow_tracking_uri"))
            : defaultTracking is not null || !trackingMissing ? defaultTracking
            : throw new ConfigException(node.PathOf("mlflow_tracking_uri"), "not set and no mlflow.tracking_uri / MLFLOW_TRACKING_URI to fall back on"));

        var envVars = Read(() =>
        {
            var vars = new Dictionary<string, string>(StringComparer.Ordinal);
            if (node.Child("env_vars") is { } envNode)
                foreach (var (key, value) in envNode.StringMap())
                    vars[key] = value;
            return vars;
        });

        var extraPip = Read(() => node.Child("extra_pip")?.StringList() ?? []);
        foreach (var (pin, i) in (extraPip ?? []).Select((p, i) => (p, i)))
            if (RequirementsFile.PackageName(pin) is null)
                problems.Add(new ConfigException($"{node.PathOf("extra_pip")}[{i}]", $"'{pin}' is not a pip requirement"));

        var tokenEnv = Read(() => node.OptionalString("auth_token_env") is not { } text ? null
            : Regex.IsMatch(text, "^[A-Za-z_][A-Za-z0-9_]*$") ? text
            : throw new ConfigException(node.PathOf("auth_token_env"),
                // The value is not echoed: what sits here by mistake is most often the token itself.
                "is not an environment variable name (name the variable that holds the token, not the token)"));

        var cluster = new RayClusterConfig
        {
            Name = name,
            PythonVersion = python,
            DashboardAddress = dashboard,
            MlflowTrackingUri = tracking!,
            EnvVars = envVars,
            ExtraPip = extraPip!,
            AuthTokenEnv = tokenEnv,
            DeployTimeout = Read(() => node.OptionalDuration("deploy_timeout")) ?? RayClusterConfig.DefaultDeployTimeout,
            Retry = Read(() => ReadRetry(node.Child("retry"), retry, problems)),
            ServeAddress = Read(() => node.OptionalString("serve_address") is { } serve ? ParseHttpUri(serve, node.PathOf("serve_address")) : null),
            KubeRay = Read(() => node.Child("kuberay") is { } kuberay ? ReadKubeRay(kuberay, problems) : new KubeRaySettings()),
            Architecture = Read(() => node.OptionalString("platform") is { } platform ? ParsePlatform(platform, node.PathOf("platform")) : RayClusterConfig.DefaultArchitecture),
            Libc = Read(() => node.OptionalString("libc") is { } libc ? ParseLibc(libc, node.PathOf("libc")) : LibcVersion.Default),
            Preflight = Read(() => node.OptionalString("preflight")?.Trim().ToLowerInvariant() switch
            {
                null => RayClusterConfig.DefaultPreflight,
                "block" => PreflightMode.Block,
                "warn" => PreflightMode.Warn,
                "off" or "false" => PreflightMode.Off,
                var other => throw new ConfigException(node.PathOf("preflight"), $"'{other}' is not block, warn or off"),
            }),
            Serving = ReadServing(node, problems),
        };
        // Half-read (its problems are collected): kept out of the list, so the duplicate-name check does not see it.
        return problems.Failures > failures ? null : cluster;
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
            // Nothing else can be read from a file that does not parse: this is its one problem.
            throw new ConfigException([new ConfigProblem("", e.Problem, e.Line, e.Column)], source);
        }
        return root as YamlMappingNode
            ?? throw new ConfigException([new ConfigProblem("", "must be a YAML mapping with at least 'ray_clusters'")], source);
    }

    /// <summary>
    /// Where each key path (<c>ray_clusters[1].name</c>) starts in the file: a mapping entry at its key, a list item at
    /// the item. A node reached again through an alias is not walked again, so the cost stays linear in the file.
    /// </summary>
    private static Dictionary<string, Mark> Positions(YamlNode root)
    {
        var positions = new Dictionary<string, Mark>(StringComparer.Ordinal);
        var walked = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        void Walk(YamlNode node, string path)
        {
            if (!walked.Add(node)) return;
            if (node is YamlMappingNode mapping)
                foreach (var (key, value) in mapping.Children)
                {
                    var child = path.Length == 0 ? (key as YamlScalarNode)?.Value ?? "" : $"{path}.{(key as YamlScalarNode)?.Value}";
                    positions.TryAdd(child, key.Start);
                    Walk(value, child);
                }
            else if (node is YamlSequenceNode sequence)
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    positions.TryAdd($"{path}[{i}]", sequence.Children[i].Start);
                    Walk(sequence.Children[i], $"{path}[{i}]");
                }
        }
        Walk(root, "");
        return positions;
    }

    /// <summary>
    /// The problem with the line and column of its key, else of the nearest enclosing key (a missing key: the mapping
    /// that lacks it); none for a path outside the file (<c>MLFLOW_TRACKING_URI</c>) or one only the root encloses.
    /// </summary>
    private static ConfigProblem Located(ConfigProblem problem, IReadOnlyDictionary<string, Mark> positions)
    {
        if (problem.Line is not null) return problem;
        for (var path = problem.KeyPath; path.Length > 0; path = path[..Math.Max(0, path.LastIndexOfAny(['.', '[']))])
            if (positions.TryGetValue(path, out var mark))
                return problem with { Line = mark.Line, Column = mark.Column };
        return problem;
    }

    /// <summary>Located, and sorted as they appear in the file; those without a position (environment variables) last.</summary>
    private static List<ConfigProblem> InFileOrder(IEnumerable<ConfigProblem> problems, IReadOnlyDictionary<string, Mark> positions) =>
        problems.Select(p => Located(p, positions)).OrderBy(p => p.Line ?? long.MaxValue).ThenBy(p => p.Column).ToList();

    /// <summary>
    /// The problems of one load. <see cref="Check{T}"/> runs one independent read (a key, an item, a section) and keeps
    /// its <see cref="ConfigException"/> instead of stopping, so one run reports every problem; the value is then the
    /// default, and the load throws before any such value is used. A problem reached twice (a section that is not a
    /// mapping, asked for each of its keys) is kept once.
    /// </summary>
    private sealed class Problems
    {
        private readonly List<ConfigProblem> _found = [];

        public IReadOnlyList<ConfigProblem> Found => _found;

        /// <summary>How many reads failed so far (repeats included): a part whose reads grew it is incomplete.</summary>
        public int Failures { get; private set; }

        public T? Check<T>(Func<T> read)
        {
            try
            {
                return read();
            }
            catch (ConfigException e)
            {
                Add(e);
                return default;
            }
        }

        public void Check(Action read) => Check(() => { read(); return 0; });

        public void Add(ConfigException e)
        {
            Failures++;
            foreach (var problem in e.Problems)
                if (!_found.Contains(problem)) _found.Add(problem);
        }
    }

    /// <summary>A position in the YAML tree that knows its key path and expands <c>${VAR}</c> in scalars.</summary>
    private sealed class Node(YamlNode yaml, string path, IEnvironment env)
    {
        public string Path => path;
        public string PathOf(string key) => path.Length == 0 ? key : $"{path}.{key}";

        private YamlMappingNode Mapping => yaml as YamlMappingNode
            ?? throw new ConfigException(path, "expected a mapping of keys to values");

        public bool IsScalar => yaml is YamlScalarNode;

        public bool Has(string key) => Mapping.Children.ContainsKey(new YamlScalarNode(key));

        /// <summary>Every key not in <paramref name="known"/>, each its own problem (a typo rarely comes alone).</summary>
        public void RefuseUnknownKeys(params string[] known)
        {
            var unknown = Mapping.Children.Keys
                .Select(key => (key as YamlScalarNode)?.Value ?? key.ToString())
                .Where(name => !known.Contains(name))
                .Select(name => new ConfigProblem(PathOf(name), $"unknown key (known here: {string.Join(", ", known)})"))
                .ToList();
            if (unknown.Count > 0) throw new ConfigException(unknown);
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

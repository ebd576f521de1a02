using System.Globalization;
using System.Text.RegularExpressions;

namespace MLRay.Models;

/// <summary>How one registered model is to be served, as its <c>ray.*</c> tags say.</summary>
public sealed record DeploymentSpec
{
    public required string Name { get; init; }
    public required string RoutePrefix { get; init; }
    public int? NumReplicas { get; init; }
    public required double NumCpus { get; init; }
    /// <summary>Bytes (the tag is GiB; Ray reads bytes — the seed's bug was sending GiB as bytes).</summary>
    public required long MemoryBytes { get; init; }
    public double? NumGpus { get; init; }
    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();
    public int? MinReplicas { get; init; }
    public int? MaxReplicas { get; init; }
    public double? TargetOngoingRequests { get; init; }
    public int? MaxOngoingRequests { get; init; }
    public int? MaxBatchSize { get; init; }
    /// <summary>Seconds mlray_serve's batch queue waits for a batch to fill (only with <see cref="MaxBatchSize"/>).</summary>
    public double? BatchWaitTimeoutS { get; init; }

    /// <summary><c>ray.smoke_test.input</c>: the JSON body the smoke test sends instead of the model's serving input example.</summary>
    public string? SmokeTestInput { get; init; }
    /// <summary><c>ray.rollout.steps</c>: the cluster's rollout steps overridden (empty: straight to 100 after the smoke test).</summary>
    public IReadOnlyList<int>? RolloutSteps { get; init; }
    /// <summary><c>ray.rollout.interval</c>: the cluster's rollout interval overridden.</summary>
    public TimeSpan? RolloutInterval { get; init; }
    /// <summary><c>ray.challenger.weight</c>: percent of unpinned requests the challenger takes (default 0: pinned only).</summary>
    public int? ChallengerWeight { get; init; }
    /// <summary><c>ray.challenger.shadow</c>: fraction of requests copied to the challenger, its answers discarded.</summary>
    public double? ChallengerShadow { get; init; }

    public bool HasAutoscaling => MinReplicas is not null || MaxReplicas is not null || TargetOngoingRequests is not null;
}

/// <summary>One invalid tag: its key, the value found (null when missing) and what is wrong.</summary>
public sealed record TagError(string Tag, string? Value, string Problem)
{
    public override string ToString() => Value is null ? $"tag '{Tag}': {Problem}" : $"tag '{Tag}' = '{Value}': {Problem}";
}

/// <summary>The outcome of reading a model's tags: a spec, "disabled", or the list of every invalid tag.</summary>
public sealed record TagParseResult(DeploymentSpec? Spec, bool Disabled, IReadOnlyList<TagError> Errors)
{
    public bool IsValid => Errors.Count == 0;

    /// <summary>
    /// No <c>ray.*</c> tag at all: not opted in yet. MLflow sends no event when tags are set on a registered model, and
    /// the usual order (log and register the version, then tag the model) makes a version's webhook arrive first, so this
    /// is a state to wait in (picked up at the next resync), not an error.
    /// </summary>
    public bool Untagged { get; init; }
}

/// <summary>Tags → <see cref="DeploymentSpec"/> per the table in DESIGN.md. Pure; reports every problem at once.</summary>
public static partial class DeploymentTags
{
    public const string Prefix = "ray.";
    public const string Name = "ray.name";
    public const string RoutePrefix = "ray.route_prefix";
    public const string Enabled = "ray.enabled";
    public const string NumReplicas = "ray.num_replicas";
    public const string NumCpus = "ray.ray_actor_options.num_cpus";
    public const string Memory = "ray.ray_actor_options.memory";
    public const string NumGpus = "ray.ray_actor_options.num_gpus";
    public const string EnvVars = "ray.ray_actor_options.runtime_env.env_vars";
    public const string MinReplicas = "ray.autoscaling_config.min_replicas";
    public const string MaxReplicas = "ray.autoscaling_config.max_replicas";
    public const string TargetOngoingRequests = "ray.autoscaling_config.target_ongoing_requests";
    public const string MaxOngoingRequests = "ray.max_ongoing_requests";
    public const string MaxBatchSize = "ray.user_config.max_batch_size";
    public const string BatchWaitTimeoutS = "ray.user_config.batch_wait_timeout_s";
    public const string SmokeTestInput = "ray.smoke_test.input";
    public const string RolloutSteps = "ray.rollout.steps";
    public const string RolloutInterval = "ray.rollout.interval";
    public const string ChallengerWeight = "ray.challenger.weight";
    public const string ChallengerShadow = "ray.challenger.shadow";
    /// <summary>The gateway app's name in <c>traffic: gateway</c>: no model may take it.</summary>
    public const string ReservedGatewayName = "mlray-gateway";

    public static readonly IReadOnlyList<string> Known =
    [
        Name, RoutePrefix, Enabled, NumReplicas, NumCpus, Memory, NumGpus, EnvVars,
        MinReplicas, MaxReplicas, TargetOngoingRequests, MaxOngoingRequests, MaxBatchSize, BatchWaitTimeoutS,
        SmokeTestInput, RolloutSteps, RolloutInterval, ChallengerWeight, ChallengerShadow,
    ];

    private const long BytesPerGiB = 1024L * 1024 * 1024;

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex AppNamePattern();

    /// <summary>Registered-model tags overlaid by model-version tags of the same key.</summary>
    public static IReadOnlyDictionary<string, string> Effective(
        IReadOnlyDictionary<string, string> registeredModelTags, IReadOnlyDictionary<string, string> versionTags)
    {
        var merged = new Dictionary<string, string>(registeredModelTags, StringComparer.Ordinal);
        foreach (var (k, v) in versionTags) merged[k] = v;
        return merged;
    }

    public static TagParseResult Parse(IReadOnlyDictionary<string, string> tags)
    {
        var errors = new List<TagError>();
        var ray = tags.Where(t => t.Key.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
        if (ray.Count == 0)
            return new TagParseResult(null, Disabled: false, [new TagError(Name, null, "required but missing")]) { Untagged = true };

        foreach (var key in ray.Keys.Where(k => !Known.Contains(k)).Order(StringComparer.Ordinal))
            errors.Add(new TagError(key, ray[key], $"unknown ray.* tag (known: {string.Join(", ", Known)})"));

        if (ray.TryGetValue(Enabled, out var enabledText))
        {
            if (!bool.TryParse(enabledText.Trim(), out var enabled))
                errors.Add(new TagError(Enabled, enabledText, "must be 'true' or 'false'"));
            else if (!enabled && errors.Count == 0)
                return new TagParseResult(null, Disabled: true, errors);
        }

        var name = Required(ray, Name, errors);
        if (name is not null && !AppNamePattern().IsMatch(name))
        {
            errors.Add(new TagError(Name, name, "must start with a letter or digit and use only letters, digits, '.', '_' and '-'"));
            name = null;
        }
        else if (name == ReservedGatewayName)
        {
            errors.Add(new TagError(Name, name, "is reserved for MLRay's gateway app (traffic: gateway)"));
            name = null;
        }

        var route = name is null ? null : "/" + name;
        if (ray.TryGetValue(RoutePrefix, out var routeText))
        {
            route = routeText.Trim();
            if (!route.StartsWith('/') || (route.Length > 1 && route.EndsWith('/')) || route.IndexOfAny(['{', '}', ' ']) >= 0)
            {
                errors.Add(new TagError(RoutePrefix, routeText, "must start with '/', not end with '/', and contain no '{', '}' or spaces"));
                route = null;
            }
        }

        var min = OptionalInt(ray, MinReplicas, 0, errors);
        var max = OptionalInt(ray, MaxReplicas, 1, errors);
        var target = OptionalNumber(ray, TargetOngoingRequests, errors, positive: true);
        var autoscaling = ray.ContainsKey(MinReplicas) || ray.ContainsKey(MaxReplicas) || ray.ContainsKey(TargetOngoingRequests);
        if (min is not null && max is not null && min > max)
            errors.Add(new TagError(MinReplicas, ray[MinReplicas], $"is greater than {MaxReplicas} ({ray[MaxReplicas]})"));

        int? replicas = null;
        if (ray.ContainsKey(NumReplicas))
        {
            replicas = OptionalInt(ray, NumReplicas, 1, errors);
            if (autoscaling)
                errors.Add(new TagError(NumReplicas, ray[NumReplicas],
                    "cannot be combined with ray.autoscaling_config.* tags (Ray rejects a fixed num_replicas with autoscaling); remove one"));
        }
        else if (!autoscaling)
            errors.Add(new TagError(NumReplicas, null, "required (or set ray.autoscaling_config.* tags)"));

        var cpus = RequiredNumber(ray, NumCpus, errors, positive: true);
        var memoryGiB = RequiredNumber(ray, Memory, errors, positive: true);
        if (memoryGiB * BytesPerGiB >= long.MaxValue)
        {
            errors.Add(new TagError(Memory, ray[Memory], "is too large (GiB per replica)"));
            memoryGiB = null;
        }
        var gpus = OptionalNumber(ray, NumGpus, errors, positive: false);
        var maxOngoing = OptionalInt(ray, MaxOngoingRequests, 1, errors);
        var batch = OptionalInt(ray, MaxBatchSize, 1, errors);
        var batchWait = OptionalNumber(ray, BatchWaitTimeoutS, errors, positive: false);
        if (batchWait is not null && !ray.ContainsKey(MaxBatchSize))
            errors.Add(new TagError(BatchWaitTimeoutS, ray[BatchWaitTimeoutS], $"has no effect without {MaxBatchSize} (requests are not batched)"));
        var envVars = ParseEnvVars(ray, errors);
        var smokeInput = ray.TryGetValue(SmokeTestInput, out var input) ? JsonObjectText(SmokeTestInput, input, errors) : null;
        IReadOnlyList<int>? steps = null;
        if (ray.TryGetValue(RolloutSteps, out var stepsText) && (steps = Configuration.ConfigLoader.ParseRolloutSteps(stepsText)) is null)
            errors.Add(new TagError(RolloutSteps, stepsText, Configuration.ConfigLoader.RolloutStepsProblem));
        TimeSpan? interval = null;
        if (ray.TryGetValue(RolloutInterval, out var intervalText) && (interval = Configuration.ConfigLoader.ParseDuration(intervalText)) is null)
            errors.Add(new TagError(RolloutInterval, intervalText, "is not a duration (examples: 90s, 2m)"));
        var challengerWeight = OptionalInt(ray, ChallengerWeight, 0, errors);
        if (challengerWeight > 100) errors.Add(new TagError(ChallengerWeight, ray[ChallengerWeight], "must be a percentage from 0 to 100"));
        var challengerShadow = OptionalNumber(ray, ChallengerShadow, errors, positive: false);
        if (challengerShadow > 1) errors.Add(new TagError(ChallengerShadow, ray[ChallengerShadow], "must be a fraction from 0 to 1"));

        if (errors.Count > 0)
            return new TagParseResult(null, false, errors);

        return new TagParseResult(new DeploymentSpec
        {
            Name = name!,
            RoutePrefix = route!,
            NumReplicas = replicas,
            NumCpus = cpus!.Value,
            MemoryBytes = (long)Math.Round(memoryGiB!.Value * BytesPerGiB),
            NumGpus = gpus,
            EnvVars = envVars,
            MinReplicas = min,
            MaxReplicas = max,
            TargetOngoingRequests = target,
            MaxOngoingRequests = maxOngoing,
            MaxBatchSize = batch,
            BatchWaitTimeoutS = batchWait,
            SmokeTestInput = smokeInput,
            RolloutSteps = steps,
            RolloutInterval = interval,
            ChallengerWeight = challengerWeight,
            ChallengerShadow = challengerShadow,
        }, false, errors);
    }

    /// <summary>A tag whose value must be a JSON object (a request body), returned as it is.</summary>
    private static string? JsonObjectText(string key, string text, List<TagError> errors)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object) return text;
            errors.Add(new TagError(key, text, "must be a JSON object (the request body to send)"));
        }
        catch (JsonException e)
        {
            errors.Add(new TagError(key, text, $"is not JSON: {e.Message}"));
        }
        return null;
    }

    private static string? Required(Dictionary<string, string> tags, string key, List<TagError> errors)
    {
        if (!tags.TryGetValue(key, out var value)) { errors.Add(new TagError(key, null, "required")); return null; }
        if (value.Trim().Length == 0) { errors.Add(new TagError(key, value, "must not be empty")); return null; }
        return value.Trim();
    }

    private static double? RequiredNumber(Dictionary<string, string> tags, string key, List<TagError> errors, bool positive)
    {
        if (!tags.ContainsKey(key)) { errors.Add(new TagError(key, null, "required")); return null; }
        return OptionalNumber(tags, key, errors, positive);
    }

    private static double? OptionalNumber(Dictionary<string, string> tags, string key, List<TagError> errors, bool positive)
    {
        if (!tags.TryGetValue(key, out var text)) return null;
        if (!double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            errors.Add(new TagError(key, text, "must be a number"));
            return null;
        }
        if (positive ? value <= 0 : value < 0)
        {
            errors.Add(new TagError(key, text, positive ? "must be greater than 0" : "must not be negative"));
            return null;
        }
        return value;
    }

    private static int? OptionalInt(Dictionary<string, string> tags, string key, int minimum, List<TagError> errors)
    {
        if (!tags.TryGetValue(key, out var text)) return null;
        if (!int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add(new TagError(key, text, "must be a whole number"));
            return null;
        }
        if (value < minimum)
        {
            errors.Add(new TagError(key, text, $"must be at least {minimum}"));
            return null;
        }
        return value;
    }

    private static IReadOnlyDictionary<string, string> ParseEnvVars(Dictionary<string, string> tags, List<TagError> errors)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!tags.TryGetValue(EnvVars, out var text)) return result;
        try
        {
            // Duplicate keys are refused rather than one silently winning.
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                errors.Add(new TagError(EnvVars, text, "must be a JSON object such as {\"ENV_VAR\": \"value\"}"));
                return result;
            }
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.String) result[property.Name] = property.Value.GetString()!;
                else errors.Add(new TagError(EnvVars, text, $"value of '{property.Name}' must be a string (Ray requires string env vars)"));
            }
        }
        // InvalidOperationException: a name or value escaping half a UTF-16 surrogate pair (\ud800) is no text.
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            errors.Add(new TagError(EnvVars, text, $"is not valid JSON ({e.Message})"));
        }
        return result;
    }
}

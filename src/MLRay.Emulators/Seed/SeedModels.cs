using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using MLRay.Emulators.Mlflow;

namespace MLRay.Emulators.Seed;

/// <summary>One of the seed demo's models: name, Python, and its requirements file from <c>examples/</c>.</summary>
public sealed record SeedModel(string AppName, string PythonVersion, string MlflowVersion, string CatboostVersion)
{
    public string RegisteredName => AppName + ".staging";
    public string Requirements => SeedModels.ReadExample($"requirements.{AppName}.txt");
}

/// <summary>
/// Registers the seed's three catboost models in an MLflow emulator the way a data scientist would have:
/// an MLflow 3 logged model (<c>models:/m-…</c>, artifacts behind the tracking server's proxy) with its
/// MLmodel, python_env.yaml, conda.yaml and requirements.txt, registered as <c>&lt;name&gt;.staging</c>
/// with the seed's <c>ray.*</c> tags.
/// </summary>
public static class SeedModels
{
    public static readonly IReadOnlyList<SeedModel> All =
    [
        new("iris_classifier-py312-catboost12", "3.12.11", "3.1.0", "1.2.8"),
        new("iris_classifier-py39-catboost12", "3.9.22", "3.1.0", "1.2.8"),
        new("iris_classifier-py39-catboost11", "3.9.22", "3.1.0", "1.1"),
    ];

    /// <summary>The seed's tags: 1 replica, half a CPU, 1 GiB.</summary>
    public static IReadOnlyDictionary<string, string> Tags(string appName) => new Dictionary<string, string>
    {
        ["ray.name"] = appName,
        ["ray.num_replicas"] = "1",
        ["ray.ray_actor_options.num_cpus"] = "0.5",
        ["ray.ray_actor_options.memory"] = "1",
    };

    public static void RegisterAll(MlflowEmulator mlflow)
    {
        foreach (var model in All) Register(mlflow, model);
    }

    /// <summary>
    /// Registers one model version; returns the version string. <paramref name="replaceFiles"/> replaces artifact
    /// files by name (a null text leaves the file out).
    /// </summary>
    public static string Register(MlflowEmulator mlflow, SeedModel model, IReadOnlyDictionary<string, string>? tags = null,
        string? requirementsOverride = null, IReadOnlyDictionary<string, string?>? replaceFiles = null)
    {
        var modelId = "m-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(model.AppName + Guid.NewGuid())))[..32];
        var location = $"mlflow-artifacts:/1/models/{modelId}/artifacts";
        var requirements = requirementsOverride ?? model.Requirements;
        foreach (var (file, text) in Files(model, location, modelId, requirements))
            if ((replaceFiles is not null && replaceFiles.TryGetValue(file, out var replaced) ? replaced : text) is { } content)
                mlflow.PutArtifact($"{location}/{file}", content);
        mlflow.CreateLoggedModel(modelId, location);
        try { mlflow.CreateRegisteredModel(model.RegisteredName, tags ?? Tags(model.AppName)); }
        catch (InvalidOperationException) { /* already registered: add a version */ }
        return mlflow.CreateModelVersion(model.RegisteredName, $"models:/{modelId}", storageLocation: location);
    }

    /// <summary>A model like <paramref name="like"/> (same Python, pins and tags) under another name: registries of any size.</summary>
    public static string RegisterCopy(MlflowEmulator mlflow, SeedModel like, string appName) =>
        Register(mlflow, like with { AppName = appName }, Tags(appName), like.Requirements);

    public static IEnumerable<(string File, string Text)> Files(SeedModel model, string location, string modelId, string requirements)
    {
        var pins = requirements.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        yield return ("MLmodel", $"""
            artifact_path: {location}
            flavors:
              catboost:
                catboost_version: {model.CatboostVersion}
                code: null
                data: model.cb
                model_type: CatBoostClassifier
                save_format: cbm
              python_function:
                data: model.cb
                env:
                  conda: conda.yaml
                  virtualenv: python_env.yaml
                loader_module: mlflow.catboost
                python_version: {model.PythonVersion}
            mlflow_version: {model.MlflowVersion}
            model_id: {modelId}
            model_uuid: {modelId}
            saved_input_example_info:
              artifact_path: input_example.json
              pandas_orient: split
              serving_input_path: serving_input_example.json
              type: dataframe
            utc_time_created: '2025-07-01 12:00:00.000000'
            """ + "\n");
        yield return ("python_env.yaml", $"""
            python: {model.PythonVersion}
            build_dependencies:
            - pip==25.1.1
            - setuptools==80.9.0
            - wheel==0.45.1
            dependencies:
            - -r requirements.txt
            """ + "\n");
        yield return ("conda.yaml", $"""
            channels:
            - conda-forge
            dependencies:
            - python={model.PythonVersion}
            - pip<=25.1.1
            - pip:
            {string.Join("\n", pins.Select(p => "  - " + p))}
            name: mlflow-env
            """ + "\n");
        yield return ("requirements.txt", requirements);
        // What examples/train_catboost_model.py's input_example=x_test.head(3) makes MLflow write (contracts/mlflow.md §4.5).
        yield return ("input_example.json", $$"""
            {"columns": {{IrisColumns}}, "data": {{IrisRows}}}
            """ + "\n");
        yield return ("serving_input_example.json", ServingInputExample);
        yield return ("model.cb", "catboost model bytes (emulated)\n");
    }

    /// <summary>The seed models' <c>serving_input_example.json</c>: what their smoke tests send, and what the demo's client sends.</summary>
    public const string ServingInputExample = $$"""
        {
          "dataframe_split": {
            "columns": {{IrisColumns}},
            "data": {{IrisRows}}
          }
        }

        """;

    private const string IrisColumns = """["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]""";
    private const string IrisRows = "[[6.1, 2.8, 4.7, 1.2], [5.7, 3.8, 1.7, 0.3], [7.7, 2.6, 6.9, 2.3]]";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Examples = new(StringComparer.Ordinal);

    /// <summary>An embedded example file, read once (registries of thousands of copies ask for the same few).</summary>
    internal static string ReadExample(string name) => Examples.GetOrAdd(name, key =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(key)
            ?? throw new InvalidOperationException($"embedded example '{key}' is missing");
        return new StreamReader(stream).ReadToEnd();
    });
}

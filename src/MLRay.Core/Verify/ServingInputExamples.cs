using MLRay.Registry;

namespace MLRay.Verify;

/// <summary>What a smoke test sends for one model version, and where it came from (named in its verdict); Body null = none found.</summary>
public sealed record ServingInput(string? Body, string Source)
{
    public const string DefaultFile = "serving_input_example.json";
}

/// <summary>
/// Finds a model version's smoke-test body (contracts/mlflow.md §4.5): tag <c>ray.smoke_test.input</c>; else the file
/// MLmodel's <c>saved_input_example_info.serving_input_path</c> names, relative to the model root; else
/// <c>serving_input_example.json</c> when present. Read once per attempt, never on a reconcile that tests nothing.
/// </summary>
public sealed class ServingInputExamples(ArtifactReader artifacts, ModelEnvironmentCache environments)
{
    public async Task<ServingInput> ReadAsync(ModelVersion version, string? tagInput, CancellationToken ct = default)
    {
        if (tagInput is not null) return new ServingInput(tagInput, $"tag {Models.DeploymentTags.SmokeTestInput}");
        var files = await environments.GetAsync(version, ct);
        var path = files.MLmodel is { } mlmodel ? Models.ModelEnvironmentReader.ServingInputPath(mlmodel) : null;
        var file = (path ?? ServingInput.DefaultFile).TrimStart('/');
        // The usual file came with the environment files (cached per version); another name is read now.
        if (file == ServingInput.DefaultFile) return new ServingInput(files.ServingInputExample, file);
        var location = await artifacts.ResolveModelVersionAsync(version.Name, version.Version, ct);
        return new ServingInput(await artifacts.ReadTextAsync(location, file, ct), file);
    }
}

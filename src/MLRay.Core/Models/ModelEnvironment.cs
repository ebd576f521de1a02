using MLRay.Yaml;
using YamlDotNet.RepresentationModel;

namespace MLRay.Models;

/// <summary>The environment files of one model version, as read from its artifacts (absent file = null).</summary>
public sealed record ModelEnvironmentFiles(string? PythonEnvYaml, string? CondaYaml, string? MLmodel, string? RequirementsTxt)
{
    /// <summary><c>serving_input_example.json</c>, MLflow's usual serving input example (the smoke test's body), read with the rest.</summary>
    public string? ServingInputExample { get; init; }
}

/// <summary>What a model needs from a cluster: its Python version and its pip list.</summary>
public sealed record ModelEnvironment(PythonVersionSpec Python, string PythonSource, IReadOnlyList<string> Pip);

/// <summary>A model's files are unusable; names the file and why (the caller adds the model version).</summary>
public sealed class ModelEnvironmentException(string file, string problem) : Exception($"{file}: {problem}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}

public static class ModelEnvironmentReader
{
    /// <summary>
    /// Python version from <c>python_env.yaml</c> <c>python:</c>; else <c>conda.yaml</c>'s <c>python=X.Y.Z</c>;
    /// else MLmodel's <c>flavors.python_function.python_version</c>. Pip list from <c>requirements.txt</c>,
    /// else the conda <c>pip:</c> list; neither is a problem naming <c>requirements.txt</c>.
    /// </summary>
    public static ModelEnvironment Read(ModelEnvironmentFiles files)
    {
        var (python, source) = files switch
        {
            { PythonEnvYaml: { } text } => (FromPythonEnv(text), "python_env.yaml"),
            { CondaYaml: { } text } => (FromConda(text), "conda.yaml"),
            { MLmodel: { } text } => (FromMLmodel(text), "MLmodel"),
            _ => throw new ModelEnvironmentException("python_env.yaml",
                "not found, and neither conda.yaml nor MLmodel is there to give the Python version"),
        };
        // MLflow always writes requirements.txt: without a pip list the app would only fail in Ray, at import.
        var pip = files.RequirementsTxt is { } req ? RequirementsFile.Parse(req)
            : files.CondaYaml is { } conda ? CondaPip(conda) ?? throw new ModelEnvironmentException("requirements.txt",
                "not found, and conda.yaml has no 'pip:' list to take the packages from")
            : throw new ModelEnvironmentException("requirements.txt", "not found, and there is no conda.yaml to take the packages from");
        return new ModelEnvironment(python, source, pip);
    }

    private static PythonVersionSpec FromPythonEnv(string text)
    {
        const string file = "python_env.yaml";
        var root = Load(text, file);
        // Read as a scalar string: a YAML float would turn "3.10" into 3.1.
        var value = Scalar(root, "python")
            ?? throw new ModelEnvironmentException(file, "has no 'python:' key");
        return Parse(value, file, "python");
    }

    private static PythonVersionSpec FromConda(string text)
    {
        const string file = "conda.yaml";
        var root = Load(text, file);
        if (root.Children.TryGetValue(new YamlScalarNode("dependencies"), out var deps) && deps is YamlSequenceNode seq)
            foreach (var item in seq.Children.OfType<YamlScalarNode>())
            {
                var dep = item.Value ?? "";
                if (dep.StartsWith("python=", StringComparison.Ordinal) || dep.StartsWith("python==", StringComparison.Ordinal))
                    return Parse(dep["python".Length..].TrimStart('='), file, "dependencies: python=");
            }
        throw new ModelEnvironmentException(file, "has no 'python=X.Y.Z' dependency");
    }

    private static PythonVersionSpec FromMLmodel(string text)
    {
        const string file = "MLmodel";
        var root = Load(text, file);
        var pyfunc = Child(Child(root, "flavors"), "python_function");
        var value = pyfunc is null ? null : Scalar(pyfunc, "python_version");
        return value is null
            ? throw new ModelEnvironmentException(file, "has no flavors.python_function.python_version")
            : Parse(value, file, "flavors.python_function.python_version");
    }

    /// <summary>The conda file's <c>pip:</c> list; null when it has none.</summary>
    private static IReadOnlyList<string>? CondaPip(string text)
    {
        var root = Load(text, "conda.yaml");
        if (root.Children.TryGetValue(new YamlScalarNode("dependencies"), out var deps) && deps is YamlSequenceNode seq)
            foreach (var item in seq.Children.OfType<YamlMappingNode>())
                if (item.Children.TryGetValue(new YamlScalarNode("pip"), out var pip) && pip is YamlSequenceNode pins)
                    return RequirementsFile.Parse(string.Join('\n', pins.Children.OfType<YamlScalarNode>().Select(p => p.Value)));
        return null;
    }

    private static PythonVersionSpec Parse(string value, string file, string key) =>
        PythonVersionSpec.TryParse(value, out var v) ? v
            : throw new ModelEnvironmentException(file, $"{key} '{value}' is not a Python version");

    /// <summary>
    /// MLmodel's <c>saved_input_example_info.serving_input_path</c> (contracts/mlflow.md §4.5): the serving-format example
    /// file, relative to the model root; null when the model was logged without an example.
    /// </summary>
    public static string? ServingInputPath(string mlmodel)
    {
        var info = Child(Load(mlmodel, "MLmodel"), "saved_input_example_info");
        return info is null ? null : Scalar(info, "serving_input_path");
    }

    private static YamlMappingNode Load(string text, string file)
    {
        YamlNode? root;
        try
        {
            root = YamlText.Parse(text, file);
        }
        catch (YamlTextException e)
        {
            throw new ModelEnvironmentException(file, $"is not valid YAML ({e.Where})");
        }
        return root as YamlMappingNode ?? throw new ModelEnvironmentException(file, "is not a YAML mapping");
    }

    private static YamlMappingNode? Child(YamlMappingNode? node, string key) =>
        node is not null && node.Children.TryGetValue(new YamlScalarNode(key), out var c) ? c as YamlMappingNode : null;

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var c) ? (c as YamlScalarNode)?.Value : null;
}

namespace MLRay.Configuration;

/// <summary>Where <c>${VAR}</c>, <c>MLFLOW_*</c> and <c>AWS_*</c> come from; injectable so config loading stays testable.</summary>
public interface IEnvironment
{
    string? Get(string name);
}

public sealed class DictionaryEnvironment(IReadOnlyDictionary<string, string> values) : IEnvironment
{
    public string? Get(string name) => values.TryGetValue(name, out var v) ? v : null;
}

/// <summary>
/// The process environment, falling back to a <c>.env</c> file (as the seed's CLI did with python-dotenv):
/// a variable set in the environment always wins over the file.
/// </summary>
public sealed class ProcessEnvironment(IReadOnlyDictionary<string, string> dotEnv) : IEnvironment
{
    /// <summary>The process's variables alone, without any <c>.env</c> file.</summary>
    public static readonly ProcessEnvironment Instance = new(new Dictionary<string, string>());

    public static ProcessEnvironment WithDotEnv(string? configDirectory)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in new[] { configDirectory, Directory.GetCurrentDirectory() }.OfType<string>().Distinct())
        {
            var file = Path.Combine(dir, ".env");
            if (!File.Exists(file)) continue;
            foreach (var (k, v) in DotEnvFile.Parse(File.ReadAllText(file)))
                values.TryAdd(k, v);
        }
        return new ProcessEnvironment(values);
    }

    public string? Get(string name)
    {
        var value = Environment.GetEnvironmentVariable(name);
        if (!string.IsNullOrEmpty(value)) return value;
        return dotEnv.TryGetValue(name, out var v) && v.Length > 0 ? v : null;
    }
}

/// <summary>The <c>.env</c> format the seed's template uses: <c>KEY=value</c>, <c>#</c> comments, optional quotes and <c>export</c>.</summary>
public static class DotEnvFile
{
    public static IEnumerable<(string Key, string Value)> Parse(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith("export ")) line = line["export ".Length..].TrimStart();
            var eq = line.IndexOf('=');
            if (eq <= 0) continue;
            var key = line[..eq].Trim();
            var value = line[(eq + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
                value = value[1..^1];
            else if (value.IndexOf(" #", StringComparison.Ordinal) is var hash and >= 0)
                value = value[..hash].TrimEnd();
            yield return (key, value);
        }
    }
}

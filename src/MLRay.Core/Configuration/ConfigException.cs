namespace MLRay.Configuration;

/// <summary>
/// One config problem: the key path (<c>ray_clusters[1].dashboard_address</c>; empty for the file as a whole), what is
/// wrong, and where in the file when that is known (1-based, from the YAML node).
/// </summary>
public sealed record ConfigProblem(string KeyPath, string Problem, long? Line = null, long? Column = null);

/// <summary>
/// A config that cannot be used: every problem found (the loader's in file order), and the file they are in when known.
/// <see cref="KeyPath"/> and <see cref="Problem"/> are the first problem's.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>What every printed problem line starts with (the CLI's and the hosts').</summary>
    public const string Prefix = "config error: ";

    public ConfigException(string path, string problem) : this([new ConfigProblem(path, problem)]) { }

    public ConfigException(IReadOnlyList<ConfigProblem> problems, string? file = null)
        : base(string.Join("\n", problems.Select(p => Describe(p, file))))
    {
        if (problems.Count == 0) throw new ArgumentException("a config exception needs a problem", nameof(problems));
        Problems = problems;
        File = file;
    }

    public IReadOnlyList<ConfigProblem> Problems { get; }
    /// <summary>The config file the problems are in; null when the thrower did not know it.</summary>
    public string? File { get; }
    public string KeyPath => Problems[0].KeyPath;
    public string Problem => Problems[0].Problem;

    /// <summary>
    /// One line per problem, to print as they are: <c>config error: &lt;file&gt;:&lt;line&gt;:&lt;column&gt;: &lt;key path&gt;: &lt;problem&gt;</c>,
    /// without what is unknown. <paramref name="file"/> stands in when the exception names none.
    /// </summary>
    public IEnumerable<string> Lines(string? file = null) => Problems.Select(p => Prefix + Describe(p, File ?? file));

    /// <summary>
    /// <c>file:line:column: key.path: problem</c> (the compiler's form, which terminals and editors link to), or
    /// <c>file: key.path: problem</c> without a position; parts that are unknown or empty are left out.
    /// </summary>
    public static string Describe(ConfigProblem problem, string? file)
    {
        var where = (file, problem.Line) switch
        {
            (null, null) => "",
            (null, { } line) => $"line {line}, column {problem.Column}: ",
            (_, null) => $"{file}: ",
            (_, { } line) => $"{file}:{line}:{problem.Column}: ",
        };
        return problem.KeyPath.Length == 0 ? where + problem.Problem : $"{where}{problem.KeyPath}: {problem.Problem}";
    }
}

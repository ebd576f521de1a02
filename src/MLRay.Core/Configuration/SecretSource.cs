namespace MLRay.Configuration;

/// <summary>
/// Where a secret comes from: the variable a <c>…_env</c> key names, the file a <c>…_file</c> key names (trimmed), or a
/// value given in code (tests). Loading the config only records it: the secret is read by <see cref="Read"/>, when it is
/// used, so a process that never uses it (the CLI's plan and deploy, the worker) does not need it set.
/// </summary>
public sealed class SecretSource
{
    private readonly Func<string> _read;
    private readonly string _from;

    private SecretSource(Func<string> read, string from)
    {
        _read = read;
        _from = from;
    }

    /// <summary>A secret given as is (code and tests; the config file never holds one).</summary>
    public static SecretSource Of(string value) => new(() => value, "a value");

    /// <summary>The variable <paramref name="variable"/>, which <paramref name="key"/> (say <c>receiver.webhook_secret_env</c>) names.</summary>
    public static SecretSource Variable(IEnvironment env, string variable, string key, string? file = null, long? line = null, long? column = null)
    {
        return new(() => env.Get(variable) switch
        {
            null => throw Problem($"names {variable}, which is not set (in the environment or .env)"),
            "" => throw Problem($"names {variable}, which is empty"),
            var value => value,
        }, $"variable {variable}");

        ConfigException Problem(string problem) => new([new ConfigProblem(key, problem, line, column)], file);
    }

    /// <summary>The file <paramref name="path"/> (trimmed), which <paramref name="key"/> (say <c>receiver.ops_token_file</c>) names.</summary>
    public static SecretSource File(string path, string key, string? file = null, long? line = null, long? column = null)
    {
        return new(() =>
        {
            string text;
            try
            {
                text = System.IO.File.ReadAllText(path).Trim();
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw Problem($"'{path}' does not exist");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw Problem($"cannot read '{path}': {e.Message}");
            }
            return text.Length > 0 ? text : throw Problem($"'{path}' is empty");
        }, $"file {path}");

        ConfigException Problem(string problem) => new([new ConfigProblem(key, problem, line, column)], file);
    }

    /// <summary>The secret; a <see cref="ConfigException"/> naming the key and the variable or file when it cannot be had.</summary>
    public string Read() => _read();

    /// <summary>Where it comes from, never the secret.</summary>
    public override string ToString() => $"SecretSource({_from})";
}

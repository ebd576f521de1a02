using System.Text;
using System.Text.RegularExpressions;

namespace MLRay.Testing;

/// <summary>One Dockerfile instruction: its keyword (upper case), its arguments with line continuations joined, and the
/// line it starts on.</summary>
internal sealed record DockerInstruction(string Keyword, string Arguments, int Line)
{
    public override string ToString() => $"line {Line}: {Keyword} {Arguments}";
}

/// <summary>A build stage: <c>FROM image [AS name]</c> and the instructions up to the next FROM.</summary>
internal sealed record DockerStage(string Image, string? Name, IReadOnlyList<DockerInstruction> Instructions);

/// <summary>A <c>COPY [--flag=…]… src… dest</c>: its flags (<c>from</c>, <c>chown</c>, …), sources and destination.</summary>
internal sealed record DockerCopy(IReadOnlyDictionary<string, string> Flags, IReadOnlyList<string> Sources, string Destination)
{
    public string? From => Flags.TryGetValue("from", out var from) ? from : null;
}

/// <summary>
/// Enough of Docker's Dockerfile syntax to read MLRay's images: comments, <c>\</c> continuations, stages, COPY (shell
/// and JSON form, with flags) and exec-form ENTRYPOINT.
/// </summary>
internal static class Dockerfile
{
    public static IReadOnlyList<DockerInstruction> Instructions(string text)
    {
        var result = new List<DockerInstruction>();
        var current = new StringBuilder();
        var start = 0;
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var trimmed = line.Trim();
            // Comment lines (and, inside a continuation, empty lines) are dropped before continuations are joined:
            // a comment ending in \ continues nothing.
            if (trimmed.StartsWith('#') || trimmed.Length == 0) continue;
            if (current.Length == 0) start = i + 1;
            var body = line.TrimEnd();
            if (body.EndsWith('\\'))
            {
                current.Append(body[..^1]);
                continue;
            }
            current.Append(body);
            Add(current.ToString(), start);
            current.Clear();
        }
        if (current.Length > 0) Add(current.ToString(), start);
        return result;

        void Add(string logical, int line)
        {
            var text = logical.Trim();
            var space = text.IndexOfAny([' ', '\t']);
            result.Add(space < 0
                ? new DockerInstruction(text.ToUpperInvariant(), "", line)
                : new DockerInstruction(text[..space].ToUpperInvariant(), text[(space + 1)..].Trim(), line));
        }
    }

    public static IReadOnlyList<DockerStage> Stages(string text)
    {
        var stages = new List<DockerStage>();
        List<DockerInstruction>? body = null;
        foreach (var instruction in Instructions(text))
        {
            if (instruction.Keyword == "FROM")
            {
                var words = Words(StripFlags(instruction.Arguments, out _));
                body = [];
                stages.Add(new DockerStage(words[0], words.Count >= 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null, body));
            }
            else if (body is not null) body.Add(instruction);
            // ARG before the first FROM (and parser directives) belong to no stage.
        }
        return stages;
    }

    public static DockerCopy Copy(DockerInstruction instruction)
    {
        var rest = StripFlags(instruction.Arguments, out var flags);
        var words = rest.StartsWith('[') ? JsonSerializer.Deserialize<List<string>>(rest)! : Words(rest);
        if (words.Count < 2) throw new FormatException($"{instruction}: COPY needs a source and a destination");
        return new DockerCopy(flags, words[..^1], words[^1]);
    }

    /// <summary>The exec-form ENTRYPOINT of a stage (<c>["dotnet", "/app/x.dll", …]</c>).</summary>
    public static IReadOnlyList<string> Entrypoint(DockerStage stage)
    {
        var entrypoint = stage.Instructions.Last(i => i.Keyword == "ENTRYPOINT");
        if (!entrypoint.Arguments.StartsWith('[')) throw new FormatException($"{entrypoint}: not exec form");
        return JsonSerializer.Deserialize<List<string>>(entrypoint.Arguments)!;
    }

    /// <summary>Removes leading <c>--name=value</c> flags (COPY's --from/--chown/--link, RUN's --mount, FROM's --platform).</summary>
    public static string StripFlags(string arguments, out Dictionary<string, string> flags)
    {
        flags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = arguments.TrimStart();
        while (rest.StartsWith("--"))
        {
            var end = rest.IndexOfAny([' ', '\t']);
            var flag = end < 0 ? rest : rest[..end];
            var eq = flag.IndexOf('=');
            flags[eq < 0 ? flag[2..] : flag[2..eq]] = eq < 0 ? "true" : flag[(eq + 1)..];
            rest = end < 0 ? "" : rest[end..].TrimStart();
        }
        return rest;
    }

    private static List<string> Words(string text) => [.. text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)];
}

/// <summary>
/// A build context as Docker sends it: a directory minus what its <c>.dockerignore</c> excludes (moby's patternmatcher:
/// <c>*</c>, <c>?</c>, <c>**</c>, <c>!</c> exceptions, the last matching pattern wins, a match on a parent directory
/// excludes everything under it).
/// </summary>
internal sealed class DockerContext
{
    private readonly List<(Regex Pattern, bool Exception)> _patterns = [];

    public DockerContext(string directory)
    {
        Directory = Path.GetFullPath(directory);
        var ignore = Path.Combine(Directory, ".dockerignore");
        if (!File.Exists(ignore)) return;
        foreach (var raw in File.ReadAllLines(ignore))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var exception = line.StartsWith('!');
            if (exception) line = line[1..].Trim();
            line = Clean(line);
            if (line.Length == 0) continue;
            _patterns.Add((new Regex("^" + GlobToRegex(line, isPattern: true) + "$"), exception));
        }
    }

    public string Directory { get; }

    public bool HasExceptions => _patterns.Any(p => p.Exception);

    /// <summary>Whether <paramref name="relative"/> (slash-separated, relative to the context) is left out of it.</summary>
    public bool IsExcluded(string relative)
    {
        relative = Clean(relative);
        var parents = relative.Split('/');
        var excluded = false;
        foreach (var (pattern, exception) in _patterns)
        {
            var match = pattern.IsMatch(relative);
            for (var i = 1; !match && i < parents.Length; i++) match = pattern.IsMatch(string.Join('/', parents[..i]));
            if (match) excluded = !exception;
        }
        return excluded;
    }

    /// <summary>
    /// The context paths a COPY source names (relative, slash-separated): itself, or what its wildcards match, minus the
    /// excluded. Empty when Docker would say "not found in build context or excluded by .dockerignore".
    /// </summary>
    public IReadOnlyList<string> Resolve(string source)
    {
        var cleaned = Clean(source);
        if (cleaned is "" or ".") return [""];
        var matches = new List<string> { "" };
        foreach (var segment in cleaned.Split('/'))
        {
            var next = new List<string>();
            foreach (var parent in matches)
            {
                var parentPath = Full(parent);
                if (!System.IO.Directory.Exists(parentPath)) continue;
                if (segment.IndexOfAny(['*', '?', '[']) < 0)
                {
                    var candidate = Join(parent, segment);
                    if (Path.Exists(Full(candidate))) next.Add(candidate);
                    continue;
                }
                var regex = new Regex("^" + GlobToRegex(segment, isPattern: false) + "$");
                next.AddRange(System.IO.Directory.EnumerateFileSystemEntries(parentPath).Select(Path.GetFileName)
                    .Where(name => regex.IsMatch(name!)).Order(StringComparer.Ordinal).Select(name => Join(parent, name!)));
            }
            matches = next;
        }
        return [.. matches.Where(m => !IsExcluded(m))];
    }

    public string Full(string relative) => relative.Length == 0 ? Directory : Path.Combine(Directory, relative);

    /// <summary>Copies a context directory's contents (not the directory itself) into <paramref name="target"/>, leaving out the excluded.</summary>
    public void CopyContents(string relative, string target)
    {
        System.IO.Directory.CreateDirectory(target);
        foreach (var entry in new DirectoryInfo(Full(relative)).EnumerateFileSystemInfos())
        {
            var child = Join(relative, entry.Name);
            var excluded = IsExcluded(child);
            if (entry is DirectoryInfo)
            {
                if (!excluded || HasExceptions) CopyContents(child, Path.Combine(target, entry.Name)); // an exception may re-include a file below
            }
            else if (!excluded) File.Copy(entry.FullName, Path.Combine(target, entry.Name), overwrite: true);
        }
    }

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    /// <summary>filepath.Clean, relative: no leading ./ or /, no trailing /, no empty or . segments.</summary>
    private static string Clean(string path) =>
        string.Join('/', path.Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != "."));

    /// <summary>Go's filepath.Match syntax as a regex; in .dockerignore patterns <c>**</c> also matches any number of directories.</summary>
    private static string GlobToRegex(string glob, bool isPattern)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < glob.Length; i++)
        {
            var ch = glob[i];
            if (ch == '*' && isPattern && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                i++;
                if (i + 1 < glob.Length && glob[i + 1] == '/') i++; // **/ is **
                sb.Append(i + 1 >= glob.Length ? ".*" : "(.*/)?");
            }
            else if (ch == '*') sb.Append("[^/]*");
            else if (ch == '?') sb.Append("[^/]");
            else if (ch == '[')
            {
                var end = glob.IndexOf(']', i + 1);
                if (end < 0) { sb.Append(@"\["); continue; }
                var set = glob[(i + 1)..end];
                sb.Append('[').Append(set.StartsWith('^') || set.StartsWith('!') ? "^" + set[1..] : set).Append(']');
                i = end;
            }
            else if (ch == '\\' && i + 1 < glob.Length) sb.Append(Regex.Escape(glob[++i].ToString()));
            else sb.Append(Regex.Escape(ch.ToString()));
        }
        return sb.ToString();
    }
}

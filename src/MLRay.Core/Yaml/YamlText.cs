using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace MLRay.Yaml;

/// <summary>A YAML text that cannot be parsed: which file, where (1-based; null when unknown) and what is wrong.</summary>
public sealed class YamlTextException(string file, long? line, long? column, string problem)
    : Exception(line is null ? $"{file}: {problem}" : $"{file}: line {line}, column {column}: {problem}")
{
    public string File { get; } = file;
    public long? Line { get; } = line;
    public long? Column { get; } = column;
    public string Problem { get; } = problem;

    /// <summary>"line 2, column 21: problem" (or just the problem), for callers that name the file themselves.</summary>
    public string Where => Line is null ? Problem : $"line {Line}, column {Column}: {Problem}";
}

/// <summary>
/// The one place MLRay parses YAML (config.yml, python_env.yaml, conda.yaml, MLmodel). Every failure of the
/// parser becomes a <see cref="YamlTextException"/> naming the file and, when known, the line.
/// </summary>
public static class YamlText
{
    /// <summary>Deeper nesting is refused: YamlDotNet builds the tree recursively, and a stack overflow kills the process.</summary>
    public const int MaxDepth = 64;

    /// <summary>The first document's root node; null for a file with no document (empty, or only comments).</summary>
    public static YamlNode? Parse(string text, string file)
    {
        var parser = new GuardedParser(new Parser(new StringReader(text)), file);
        var stream = new YamlStream();
        try
        {
            stream.Load(parser);
        }
        catch (YamlTextException)
        {
            throw;
        }
        catch (YamlException e)
        {
            throw Explained(text, file, e.InnerException?.Message ?? e.Message, e.Start.Line, e.Start.Column);
        }
        // The text is the only input, so anything else YamlDotNet throws is also the file's fault: it throws
        // InvalidOperationException, for one, on an unclosed '[' followed by another key.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw parser.Unparseable(e);
        }
        return stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
    }

    /// <summary>The tab problem's text; YAML indents with spaces only.</summary>
    public const string TabIndentation = "a tab character indents this line; YAML allows only spaces";

    /// <summary>
    /// The parser's complaint at <paramref name="line"/>:<paramref name="column"/>, said so it points at the cause. A tab in
    /// a line's indentation is reported where it is (the parser names the mapping above it, often line 1). The
    /// complaints a mis-indented line causes get their likely cause, which the parser's wording does not give.
    /// </summary>
    internal static YamlTextException Explained(string text, string file, string message, long line, long column)
    {
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase) && TabIndentedLine(text, line) is var (tabLine, tabColumn))
            return new YamlTextException(file, tabLine, tabColumn, TabIndentation);
        var said = message.TrimEnd('.');
        said = said.Length > 0 ? char.ToLowerInvariant(said[0]) + said[1..] : said;
        var lines = text.Split('\n');
        var at = line >= 1 && line <= lines.Length ? lines[line - 1].TrimEnd('\r') : "";
        var cause = said switch
        {
            _ when said.Contains("did not find expected key") || said.Contains("could not find expected ':'") =>
                at.Contains(':') || at.TrimStart().StartsWith('-')
                    ? "this line's indentation does not match the lines above it"
                    : "the key on this line lacks its ':'",
            _ when said.Contains("did not find expected '-' indicator") =>
                "this line's indentation does not match the list items above it",
            _ when said.Contains("found invalid mapping") || said.Contains("mapping values are not allowed") =>
                at[..(int)Math.Clamp(column - 1, 0, at.Length)].Contains(": ", StringComparison.Ordinal)
                    ? "a value on this line holds ': ', which YAML reads as another key: quote the value"
                    : Indent(at) > Indent(lines.Take((int)line - 1).LastOrDefault(l => l.Trim().Length > 0) ?? "")
                        ? "this line is indented deeper than the key above it"
                        : "the line above lacks its ':', so this line continues its value",
            _ => null,
        };
        return new YamlTextException(file, line, column, cause is null ? said : $"{said} (likely cause: {cause})");
    }

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    /// <summary>The first line at or after <paramref name="from"/> (1-based) with a tab in its leading whitespace, and the tab's column.</summary>
    private static (long Line, long Column)? TabIndentedLine(string text, long from)
    {
        var lines = text.Split('\n');
        for (var i = (int)Math.Max(0, from - 1); i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', 0, indent);
            if (tab >= 0) return (i + 1, tab + 1);
        }
        return null;
    }

    /// <summary>
    /// Passes the parser's events through, refusing what would make building or using the tree unsafe: nesting
    /// deeper than <see cref="MaxDepth"/>, an alias inside the node it names (a cycle), and collections or aliases as
    /// mapping keys (keys are hashed recursively, so an alias-heavy key costs time exponential in its nesting; no
    /// MLRay file needs one). Remembers where it was, so a failure without a position can still name a line.
    /// </summary>
    private sealed class GuardedParser(IParser inner, string file) : IParser
    {
        private sealed class Open(NodeEvent start)
        {
            public NodeEvent Start { get; } = start;
            public bool IsMapping => Start is MappingStart;
            /// <summary>In a mapping: whether the next node is a key.</summary>
            public bool ExpectsKey { get; set; } = true;
        }

        private readonly Stack<Open> _open = new();
        private Mark _last = Mark.Empty;

        public ParsingEvent? Current => inner.Current;

        public bool MoveNext()
        {
            if (!inner.MoveNext()) return false;
            var current = inner.Current!;
            _last = current.Start;
            switch (current)
            {
                case AnchorAlias alias:
                    if (_open.Any(o => !o.Start.Anchor.IsEmpty && o.Start.Anchor == alias.Value))
                        throw At(current, $"alias *{alias.Value} refers to a node that contains it");
                    Entered(current, isCollection: false);
                    break;
                case Scalar:
                    Entered(current, isCollection: false);
                    break;
                case MappingStart or SequenceStart:
                    Entered(current, isCollection: true);
                    if (_open.Count >= MaxDepth) throw At(current, $"nested deeper than {MaxDepth} levels");
                    _open.Push(new Open((NodeEvent)current));
                    break;
                case MappingEnd or SequenceEnd:
                    _open.TryPop(out _);
                    break;
            }
            return true;
        }

        /// <summary>A node starts: as a key or a value of the enclosing mapping (keys must be scalars).</summary>
        private void Entered(ParsingEvent node, bool isCollection)
        {
            if (!_open.TryPeek(out var parent) || !parent.IsMapping) return;
            if (parent.ExpectsKey && (isCollection || node is AnchorAlias))
                throw At(node, "a mapping key must be a plain value, not a list, a mapping or an alias");
            parent.ExpectsKey = !parent.ExpectsKey;
        }

        private YamlTextException At(ParsingEvent e, string problem) => new(file, e.Start.Line, e.Start.Column, problem);

        /// <summary>A parser failure with no position of its own: point at the unclosed flow collection, else at the last event.</summary>
        public YamlTextException Unparseable(Exception e)
        {
            var flow = _open.FirstOrDefault(o => o.Start is MappingStart { Style: MappingStyle.Flow } or SequenceStart { Style: SequenceStyle.Flow });
            if (flow is not null)
                return At(flow.Start, $"the {(flow.IsMapping ? "'{'" : "'['")} that starts here is never closed");
            return _last.Equals(Mark.Empty)
                ? new YamlTextException(file, null, null, $"is not valid YAML ({e.Message})")
                : new YamlTextException(file, _last.Line, _last.Column, $"is not valid YAML after this point ({e.Message})");
        }
    }
}

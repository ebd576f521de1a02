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
            throw new YamlTextException(file, e.Start.Line, e.Start.Column, e.InnerException?.Message ?? e.Message);
        }
        // The text is the only input, so anything else YamlDotNet throws is also the file's fault: it throws
        // InvalidOperationException, for one, on an unclosed '[' followed by another key.
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw parser.Unparseable(e);
        }
        return stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
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

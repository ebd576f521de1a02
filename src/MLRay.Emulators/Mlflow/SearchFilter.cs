using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MLRay.Emulators.Mlflow;

/// <summary>
/// The subset of MLflow's SQL-store search filter grammar the registry endpoints accept:
/// <c>cond [AND cond]...</c> where cond is <c>ident op value</c>; idents are attributes or
/// <c>tags.key</c> / <c>tags.`key`</c>; ops <c>= != &lt;&gt; LIKE ILIKE IN NOT IN &lt; &lt;= &gt; &gt;=</c>.
/// </summary>
internal sealed class SearchFilter
{
    internal sealed record Condition(bool IsTag, string Key, string Op, IReadOnlyList<string> Values);

    public IReadOnlyList<Condition> Conditions { get; }

    private SearchFilter(IReadOnlyList<Condition> conditions) => Conditions = conditions;

    public static readonly SearchFilter Empty = new(Array.Empty<Condition>());

    /// <summary>Parses the filter; throws <see cref="MlflowError"/> (400 INVALID_PARAMETER_VALUE) when malformed.</summary>
    public static SearchFilter Parse(string? filter, IReadOnlyCollection<string> attributes)
    {
        if (string.IsNullOrWhiteSpace(filter)) return Empty;
        var tokens = Tokenize(filter);
        var conditions = new List<Condition>();
        var i = 0;
        while (true)
        {
            if (i >= tokens.Count) throw Invalid($"Invalid filter '{filter}'. Could not be parsed.");
            var ident = tokens[i++];
            if (ident.Kind != TokKind.Ident) throw Invalid($"Invalid filter '{filter}'. Could not be parsed.");
            bool isTag;
            string key;
            if (ident.Text.StartsWith("tags.", StringComparison.OrdinalIgnoreCase) || ident.Text.StartsWith("tag.", StringComparison.OrdinalIgnoreCase))
            {
                isTag = true;
                key = ident.Text[(ident.Text.IndexOf('.') + 1)..];
            }
            else
            {
                isTag = false;
                key = ident.Text.StartsWith("attributes.", StringComparison.OrdinalIgnoreCase) || ident.Text.StartsWith("attribute.", StringComparison.OrdinalIgnoreCase)
                    ? ident.Text[(ident.Text.IndexOf('.') + 1)..]
                    : ident.Text;
                if (!attributes.Contains(key))
                    throw Invalid($"Invalid attribute key '{key}' specified. Valid keys are '{{{string.Join(", ", attributes.Select(a => "'" + a + "'"))}}}'");
            }
            if (i >= tokens.Count || tokens[i].Kind != TokKind.Op) throw Invalid($"Invalid filter '{filter}'. Expected a comparator after '{ident.Text}'.");
            var op = tokens[i++].Text.ToUpperInvariant();
            if (op == "NOT")
            {
                if (i >= tokens.Count || !tokens[i].Text.Equals("IN", StringComparison.OrdinalIgnoreCase))
                    throw Invalid($"Invalid filter '{filter}'. Expected 'IN' after 'NOT'.");
                i++;
                op = "NOT IN";
            }
            if (op == "<>") op = "!=";
            var values = new List<string>();
            if (op is "IN" or "NOT IN")
            {
                if (i >= tokens.Count || tokens[i].Text != "(") throw Invalid($"Invalid filter '{filter}'. Expected '(' after {op}.");
                i++;
                while (true)
                {
                    if (i >= tokens.Count || tokens[i].Kind is not (TokKind.String or TokKind.Number))
                        throw Invalid($"Invalid filter '{filter}'. While parsing a list in the query, expected string value or number.");
                    values.Add(tokens[i++].Text);
                    if (i < tokens.Count && tokens[i].Text == ",") { i++; continue; }
                    if (i < tokens.Count && tokens[i].Text == ")") { i++; break; }
                    throw Invalid($"Invalid filter '{filter}'. Unterminated list.");
                }
            }
            else
            {
                if (i >= tokens.Count || tokens[i].Kind is not (TokKind.String or TokKind.Number))
                    throw Invalid($"Invalid filter '{filter}'. Expected a quoted string value for '{ident.Text}'.");
                if (tokens[i].Kind == TokKind.Number && key != "version_number" && !key.EndsWith("timestamp", StringComparison.Ordinal))
                    throw Invalid($"Invalid filter '{filter}'. Expected a quoted string value for {(isTag ? "tag" : "attribute")} '{key}' (e.g. 'my-value'). Got value {tokens[i].Text}");
                values.Add(tokens[i++].Text);
            }
            if (!isTag && key is "name" or "source_path" && op is "<" or "<=" or ">" or ">=")
                throw Invalid($"Invalid comparator '{op}' not one of '('=', '!=', 'LIKE', 'ILIKE')'");
            conditions.Add(new Condition(isTag, key, op, values));
            if (i >= tokens.Count) break;
            if (!tokens[i].Text.Equals("AND", StringComparison.OrdinalIgnoreCase))
                throw Invalid($"Invalid clause(s) in filter string: '{filter}'. Only 'AND' is supported between conditions.");
            i++;
        }
        return new SearchFilter(conditions);
    }

    /// <param name="tag">A tag's value, null when the entity has no such tag (which never matches).</param>
    public bool Matches(Func<string, string?> attribute, Func<string, string?> tag)
    {
        foreach (var c in Conditions)
        {
            var actual = c.IsTag ? tag(c.Key) : attribute(c.Key);
            if (c.IsTag && actual is null) return false;
            if (!Compare(actual, c)) return false;
        }
        return true;
    }

    /// <summary>
    /// The names an <c>name = '…'</c> or <c>name IN (…)</c> condition allows, or null when any name may match: a search
    /// for one model's versions looks at that model only, not at every model of a large registry (results unchanged).
    /// </summary>
    public IReadOnlyList<string>? ExactNames() =>
        Conditions.FirstOrDefault(c => c is { IsTag: false, Key: "name", Op: "=" or "IN" })?.Values;

    private static bool Compare(string? actual, Condition c)
    {
        switch (c.Op)
        {
            case "=": return actual is not null && Eq(actual, c.Values[0], c.Key);
            case "!=": return actual is not null && !Eq(actual, c.Values[0], c.Key);
            case "LIKE": return actual is not null && Like(actual, c.Values[0], ignoreCase: false);
            case "ILIKE": return actual is not null && Like(actual, c.Values[0], ignoreCase: true);
            case "IN": return actual is not null && c.Values.Any(v => Eq(actual, v, c.Key));
            case "NOT IN": return actual is not null && c.Values.All(v => !Eq(actual, v, c.Key));
            case "<" or "<=" or ">" or ">=":
                if (actual is null || !double.TryParse(actual, NumberStyles.Float, CultureInfo.InvariantCulture, out var a)
                    || !double.TryParse(c.Values[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var b)) return false;
                return c.Op switch { "<" => a < b, "<=" => a <= b, ">" => a > b, _ => a >= b };
            default: throw Invalid($"Invalid comparator '{c.Op}'.");
        }
    }

    private static bool Eq(string actual, string expected, string key)
    {
        if (key == "version_number" && long.TryParse(actual, out var a) && long.TryParse(expected, out var b)) return a == b;
        return string.Equals(actual, expected, StringComparison.Ordinal);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, bool), Regex> LikePatterns = new();

    /// <summary>SQL LIKE: % = any run, _ = one char; case-sensitive unless ILIKE.</summary>
    public static bool Like(string value, string pattern, bool ignoreCase) =>
        // One regex per pattern, reused: a search tries it on every model of the registry.
        LikePatterns.GetOrAdd((pattern, ignoreCase), key => LikeRegex(key.Item1, key.Item2)).IsMatch(value);

    private static Regex LikeRegex(string pattern, bool ignoreCase)
    {
        var sb = new StringBuilder("^");
        foreach (var ch in pattern)
        {
            sb.Append(ch switch
            {
                '%' => ".*",
                '_' => ".",
                _ => Regex.Escape(ch.ToString()),
            });
        }
        sb.Append('$');
        var options = RegexOptions.Singleline | RegexOptions.CultureInvariant;
        if (ignoreCase) options |= RegexOptions.IgnoreCase;
        return new Regex(sb.ToString(), options);
    }

    private enum TokKind { Ident, String, Number, Op, Punct }

    private sealed record Tok(TokKind Kind, string Text);

    private static List<Tok> Tokenize(string s)
    {
        var tokens = new List<Tok>();
        var i = 0;
        while (i < s.Length)
        {
            var c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c is '\'' or '"')
            {
                var (text, next) = ReadQuoted(s, i, c);
                tokens.Add(new Tok(TokKind.String, text));
                i = next;
                continue;
            }
            if (c is '(' or ')' or ',') { tokens.Add(new Tok(TokKind.Punct, c.ToString())); i++; continue; }
            if (c is '=' ) { tokens.Add(new Tok(TokKind.Op, "=")); i++; continue; }
            if (c is '!' && i + 1 < s.Length && s[i + 1] == '=') { tokens.Add(new Tok(TokKind.Op, "!=")); i += 2; continue; }
            if (c is '<' or '>')
            {
                if (i + 1 < s.Length && (s[i + 1] == '=' || (c == '<' && s[i + 1] == '>')))
                {
                    tokens.Add(new Tok(TokKind.Op, s.Substring(i, 2)));
                    i += 2;
                }
                else
                {
                    tokens.Add(new Tok(TokKind.Op, c.ToString()));
                    i++;
                }
                continue;
            }
            if (char.IsDigit(c) || (c == '-' && i + 1 < s.Length && char.IsDigit(s[i + 1])))
            {
                var start = i++;
                while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
                tokens.Add(new Tok(TokKind.Number, s[start..i]));
                continue;
            }
            if (char.IsLetter(c) || c == '_' || c == '`')
            {
                var sb = new StringBuilder();
                while (i < s.Length)
                {
                    var ch = s[i];
                    if (ch == '`' || (ch == '"' && sb.Length > 0 && sb[^1] == '.'))
                    {
                        var (text, next) = ReadQuoted(s, i, ch);
                        sb.Append(text);
                        i = next;
                        continue;
                    }
                    if (char.IsLetterOrDigit(ch) || ch is '_' or '.') { sb.Append(ch); i++; continue; }
                    break;
                }
                var word = sb.ToString();
                var upper = word.ToUpperInvariant();
                if (upper is "LIKE" or "ILIKE" or "IN" or "NOT") tokens.Add(new Tok(TokKind.Op, upper));
                else if (upper is "AND" or "OR") tokens.Add(new Tok(TokKind.Punct, upper));
                else tokens.Add(new Tok(TokKind.Ident, word));
                continue;
            }
            throw Invalid($"Invalid filter '{s}'. Unexpected character '{c}' at position {i}.");
        }
        return tokens;
    }

    private static (string Text, int Next) ReadQuoted(string s, int start, char quote)
    {
        var sb = new StringBuilder();
        var i = start + 1;
        while (i < s.Length)
        {
            var ch = s[i];
            if (ch == '\\' && i + 1 < s.Length && (s[i + 1] == quote || s[i + 1] == '\\')) { sb.Append(s[i + 1]); i += 2; continue; }
            if (ch == quote) return (sb.ToString(), i + 1);
            sb.Append(ch);
            i++;
        }
        throw Invalid($"Invalid filter '{s}'. Unterminated quoted string.");
    }

    private static MlflowError Invalid(string message) => new(400, "INVALID_PARAMETER_VALUE", message);
}

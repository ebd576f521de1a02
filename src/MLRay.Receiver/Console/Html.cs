using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Unicode;

namespace MLRay.Receiver.Console;

/// <summary>Markup that is already safe HTML: only <see cref="Html.H"/> and <see cref="Html.Join"/> make one.</summary>
public readonly record struct Markup(string Value)
{
    public override string ToString() => Value;
}

/// <summary>
/// The console's one view helper: <c>Html.H($"&lt;td&gt;{text}&lt;/td&gt;")</c> HTML-encodes every hole (attributes included)
/// except those that are <see cref="Markup"/> already, so nothing read from MLflow, Ray or the broker reaches a page raw.
/// </summary>
public static class Html
{
    /// <summary>Every script readable as it is (é, —, …); &lt;, &gt;, &amp;, quotes and apostrophes still encoded.</summary>
    private static readonly HtmlEncoder Encoder = HtmlEncoder.Create(UnicodeRanges.All);

    public static Markup H(ref Handler html) => html.ToMarkup();

    public static Markup Join(IEnumerable<Markup> parts) => new(string.Concat(parts.Select(p => p.Value)));

    public static Markup Text(string? text) => new(Encoder.Encode(text ?? ""));

    public static readonly Markup Empty = new("");

    public static Markup When(bool condition, Markup markup) => condition ? markup : Empty;

    [InterpolatedStringHandler]
    public ref struct Handler
    {
        private readonly StringBuilder _html;

        public Handler(int literalLength, int formattedCount) => _html = new StringBuilder(literalLength + formattedCount * 16);

        public readonly void AppendLiteral(string literal) => _html.Append(literal);

        public readonly void AppendFormatted(Markup markup) => _html.Append(markup.Value);

        public readonly void AppendFormatted<T>(T value) =>
            _html.Append(Encoder.Encode(value is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : value?.ToString() ?? ""));

        public readonly void AppendFormatted<T>(T value, string? format) =>
            _html.Append(Encoder.Encode(value is IFormattable f ? f.ToString(format, CultureInfo.InvariantCulture) : value?.ToString() ?? ""));

        public readonly Markup ToMarkup() => new(_html.ToString());
    }
}

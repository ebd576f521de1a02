using System.Text.RegularExpressions;

namespace MLRay.Testing;

/// <summary>What tests read from a <c>/metrics</c> answer.</summary>
internal static class PrometheusText
{
    /// <summary>
    /// The text with an unlabelled sample written <c>name value</c>: OpenTelemetry's exporter writes <c>name{} value</c>,
    /// which Prometheus reads as the same series. Labels come sorted by name (the exporter sorts them).
    /// </summary>
    public static string Normalize(string text) => Regex.Replace(text, @"^(\w+)\{\} ", "$1 ", RegexOptions.Multiline);
}

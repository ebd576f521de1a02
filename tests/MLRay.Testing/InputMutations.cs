using System.Text;

namespace MLRay.Testing;

/// <summary>Malformed variants of a valid input, for the fuzzers and the fault suite's malformed-input corpus.</summary>
internal static class InputMutations
{
    private static readonly string[] Tokens =
        ["[", "]", "{", "}", ":", ": ", "- ", ",", "&a ", "*a", "? ", "!!binary ", "!!python/object ", "'", "\"", "\t", "\n", "\r\n",
         "#", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "\\u", "\\ud800", "\0", "null", "true", "1e999", "-0", "<<: *a\n"];

    /// <summary>Truncations, byte flips, inserted tokens, duplicated slices, deep nesting and huge values of <paramref name="input"/>.</summary>
    public static IEnumerable<(string Kind, byte[] Bytes)> Mutants(byte[] input, Random random, int count, bool json)
    {
        for (var i = 0; i < count; i++)
        {
            var bytes = (byte[])input.Clone();
            var at = random.Next(bytes.Length + 1);
            switch (i % 7)
            {
                case 0:
                    yield return ("truncated", bytes[..at]);
                    break;
                case 1:
                    for (var flips = random.Next(1, 4); flips > 0; flips--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                    yield return ("byte flip", bytes);
                    break;
                case 2:
                    yield return ("token", [.. bytes[..at], .. Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]), .. bytes[at..]]);
                    break;
                case 3:
                    var length = random.Next(0, Math.Min(200, bytes.Length - at + 1));
                    yield return ("duplicated slice", [.. bytes[..(at + length)], .. bytes[at..]]);
                    break;
                case 4:
                    var depth = new[] { 65, 1_000, 100_000 }[random.Next(3)];
                    var (open, close) = json ? new[] { ("[", "]"), ("{\"a\": ", "}") }[random.Next(2)]
                        : new[] { ("[", "]"), ("{a: ", "}"), ("- ", "") }[random.Next(3)];
                    var nested = string.Concat(Enumerable.Repeat(open, depth)) + "x" + string.Concat(Enumerable.Repeat(close, depth));
                    yield return ($"nested {depth}", [.. bytes[..at], .. Encoding.UTF8.GetBytes(nested), .. bytes[at..]]);
                    break;
                case 5:
                    var huge = new string("9a-é\"".AsSpan()[random.Next(5)], new[] { 10_000, 300_000, 1_100_000 }[random.Next(3)]);
                    yield return ("huge value", [.. bytes[..at], .. Encoding.UTF8.GetBytes(huge), .. bytes[at..]]);
                    break;
                default:
                    if (json)
                    {
                        // Escapes of half a surrogate pair, as a key and as a value, inside the first object.
                        var brace = Array.IndexOf(bytes, (byte)'{') + 1;
                        yield return ("unpaired surrogates", [.. bytes[..brace], .. Encoding.UTF8.GetBytes("\"k\\ud800\": \"v\\udc00\", "), .. bytes[brace..]]);
                    }
                    else
                    {
                        // Aliases: billion-laughs style references and a node referring to itself.
                        var aliases = "&r [*r]\nb0: &b0 [x, x, x, x]\nb1: &b1 [*b0, *b0, *b0, *b0]\nb2: [*b1, *b1, *b1, *b1]\n";
                        yield return ("aliases", [.. bytes[..at], .. Encoding.UTF8.GetBytes(aliases), .. bytes[at..]]);
                    }
                    break;
            }
        }
    }
}

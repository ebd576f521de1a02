using System.Text.RegularExpressions;
using MLRay.Preflight;

namespace MLRay.Configuration;

public static partial class ConfigLoader
{
    /// <summary>Wheel architectures packaging knows for Linux; Docker's names (amd64, arm64) are accepted for them.</summary>
    private static readonly string[] LinuxArchitectures = ["x86_64", "aarch64", "i686", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"];

    /// <summary><c>linux/x86_64</c>, <c>linux/aarch64</c> (or <c>linux/amd64</c>, <c>linux/arm64</c>) → the wheel tag's architecture.</summary>
    private static string ParsePlatform(string text, string path)
    {
        var parts = text.Trim().ToLowerInvariant().Split('/');
        var arch = parts.Length == 2 && parts[0] == "linux" ? parts[1] switch { "amd64" => "x86_64", "arm64" => "aarch64", var a => a } : null;
        return arch is not null && LinuxArchitectures.Contains(arch) ? arch
            : throw new ConfigException(path, $"'{text}' is not linux/<architecture> (one of {string.Join(", ", LinuxArchitectures)}); Ray clusters run on Linux");
    }

    private static LibcVersion ParseLibc(string text, string path)
    {
        var m = Regex.Match(text.Trim(), @"^(glibc|musl)\s+([0-9]{1,3})\.([0-9]{1,3})$", RegexOptions.IgnoreCase);
        return m.Success
            ? new LibcVersion(m.Groups[1].Value.Equals("glibc", StringComparison.OrdinalIgnoreCase) ? LibcFamily.Glibc : LibcFamily.Musl,
                int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value))
            : throw new ConfigException(path, $"'{text}' is not a C library version such as 'glibc 2.36' or 'musl 1.2'");
    }

    /// <summary>
    /// <c>package_index: URL</c>, or a mapping of <c>url</c>, <c>username_env</c>/<c>password_env</c> (basic auth; a token goes
    /// in the password, as pip takes it), <c>cache_ttl</c>, <c>max_concurrency</c>, <c>timeout</c>.
    /// </summary>
    private static PackageIndexSettings ReadPackageIndex(Node? node, IEnvironment env, Problems problems)
    {
        if (node is null) return new PackageIndexSettings();
        if (node.IsScalar) return new PackageIndexSettings { Url = IndexUrl(node.Scalar(), node.Path) };
        problems.Check(() => node.RefuseUnknownKeys("url", "username_env", "password_env", "cache_ttl", "max_concurrency", "timeout"));
        // Read now, unlike the receiver's secrets: the pre-flight of plan, deploy and the worker uses them.
        string? Secret(string key) => problems.Check(() => node.OptionalString(key) is { } name
            ? env.Get(name) ?? throw new ConfigException(node.PathOf(key), $"names {name}, which is not set")
            : null);
        var settings = new PackageIndexSettings();
        var concurrency = problems.Check(() => node.OptionalString("max_concurrency") is not { } c ? settings.MaxConcurrency
            : int.TryParse(c, out var n) && n is >= 1 and <= 64 ? n
            : throw new ConfigException(node.PathOf("max_concurrency"), $"'{c}' is not a whole number from 1 to 64"));
        var url = problems.Check(() =>
        {
            var url = node.OptionalString("url") is { } u ? IndexUrl(u, node.PathOf("url")) : settings.Url;
            return url.UserInfo.Length == 0 ? url
                : throw new ConfigException(node.PathOf("url"), "has credentials in it: name the variables that hold them in username_env and password_env instead");
        });
        return settings with
        {
            Url = url ?? settings.Url,
            Username = Secret("username_env"),
            Password = Secret("password_env"),
            CacheTtl = problems.Check(() => node.OptionalDuration("cache_ttl")) ?? settings.CacheTtl,
            Timeout = problems.Check(() => node.OptionalDuration("timeout")) ?? settings.Timeout,
            MaxConcurrency = concurrency,
        };
    }

    /// <summary>The Simple API root, with the trailing slash project URLs are resolved against.</summary>
    private static Uri IndexUrl(string text, string path)
    {
        var uri = ParseHttpUri(text, path);
        return uri.AbsolutePath.EndsWith('/') ? uri : new UriBuilder(uri) { Path = uri.AbsolutePath + "/" }.Uri;
    }
}

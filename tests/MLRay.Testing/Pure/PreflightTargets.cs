using MLRay.Preflight;

namespace MLRay.Testing;

/// <summary>The target platforms of contracts/pypi.md §5.</summary>
internal static class PreflightTargets
{
    public static readonly ClusterPlatform A = new(3, 9, 18, "x86_64", LibcFamily.Glibc, 2, 31);
    public static readonly ClusterPlatform B = new(3, 9, 18, "aarch64", LibcFamily.Glibc, 2, 17);
    public static readonly ClusterPlatform C = new(3, 12, 11, "aarch64", LibcFamily.Glibc, 2, 35);
    public static readonly ClusterPlatform D = new(3, 12, 11, "x86_64", LibcFamily.Glibc, 2, 31);
    public static readonly ClusterPlatform M = new(3, 12, 11, "x86_64", LibcFamily.Musl, 1, 2);
}

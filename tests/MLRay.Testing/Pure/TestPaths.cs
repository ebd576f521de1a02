namespace MLRay.Testing;

/// <summary>Where the repository's files are, seen from the test binaries.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string RepoFile(string relative) => Path.Combine(RepoRoot, relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLRay.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("repository root (MLRay.sln) not found");
    }
}

using MLRay.Deploy;
using MLRay.Registry;

namespace MLRay.Tests.Unit;

/// <summary>Which version is served: the same pure rule for the snapshot, the router and the CLI.</summary>
public class VersionSelectionTests
{
    private static ModelVersion V(string version, string? status = "READY") => new() { Name = "m.staging", Version = version, Status = status };

    private static RegisteredModel Model(params (string Alias, string Version)[] aliases) => new()
    {
        Name = "m.staging",
        Aliases = aliases.Select(a => new RegisteredModelAlias(a.Alias, a.Version)).ToList(),
    };

    public static TheoryData<string[], string?, string?, string?> Cases => new()
    {
        // versions ("number:status"), alias, expected version, expected reason
        { new[] { "1:READY", "2:READY", "10:READY" }, null, "10", null },                    // numeric, not string, order
        { new[] { "1:READY", "2:PENDING_REGISTRATION" }, null, "1", null },                  // latest READY, not latest
        { new[] { "1:FAILED_REGISTRATION" }, null, null, "no READY version" },
        { new string[0], null, null, "no READY version" },
        { new[] { "1:READY", "2:READY" }, "champion", "1", null },                           // the alias wins over latest
        { new[] { "1:READY" }, "other", null, "alias 'other' is not set" },
        { new[] { "1:PENDING_REGISTRATION" }, "champion", null, "alias 'champion' points to version 1, which is PENDING_REGISTRATION" },
        { new[] { "2:READY" }, "champion", null, "alias 'champion' points to version 1, which does not exist" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Chooses_the_version_to_serve(string[] versions, string? alias, string? expected, string? reason)
    {
        var list = versions.Select(v => v.Split(':')).Select(p => V(p[0], p[1])).ToList();
        var (chosen, why) = VersionSelection.Choose(Model(("champion", "1")), list, alias);
        Assert.Equal(expected, chosen?.Version);
        Assert.Equal(reason, why);
    }

    [Fact]
    public void A_version_without_status_counts_as_ready_as_older_servers_omit_it()
    {
        Assert.Equal("3", VersionSelection.Choose(Model(), [V("3", null)], null).Version?.Version);
    }
}

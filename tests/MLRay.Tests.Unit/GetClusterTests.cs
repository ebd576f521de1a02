namespace MLRay.Tests.Unit;

/// <summary><see cref="MLRayConfig.GetCluster"/>: the one lookup whose error every caller (CLI, worker, ops API, dlq) reports.</summary>
public class GetClusterTests
{
    private static MLRayConfig Config(params string[] clusters) => new()
    {
        WorkingDir = ".mlray",
        Mlflow = new MlflowSettings { TrackingUri = new("http://mlflow:5000") },
        Clusters = [.. clusters.Select(name => new RayClusterConfig
        {
            Name = name, PythonVersion = PythonVersionSpec.Parse("3.12"), DashboardAddress = new("http://ray:8265"), MlflowTrackingUri = new("http://mlflow:5000"),
        })],
    };

    [Theory]
    [InlineData("ray-cluster-py311", new[] { "ray-cluster-py39" }, "no cluster named 'ray-cluster-py311' (configured: ray-cluster-py39)")]
    [InlineData("ray-cluster-py311", new[] { "ray-cluster-py39", "ray-cluster-py312" }, "no cluster named 'ray-cluster-py311' (configured: ray-cluster-py39, ray-cluster-py312)")]
    [InlineData("Ray-Cluster-Py39", new[] { "ray-cluster-py39" }, "no cluster named 'Ray-Cluster-Py39' (configured: ray-cluster-py39)")]   // names are case-sensitive
    [InlineData("ray-cluster-py3", new[] { "ray-cluster-py39" }, "no cluster named 'ray-cluster-py3' (configured: ray-cluster-py39)")]     // no prefix matching
    [InlineData("", new[] { "a", "b", "c" }, "no cluster named '' (configured: a, b, c)")]
    public void An_unknown_name_is_one_config_error_on_ray_clusters_naming_the_configured_ones(string name, string[] configured, string problem)
    {
        var config = Config(configured);

        var e = Assert.Throws<ConfigException>(() => config.GetCluster(name));

        Assert.Equal("ray_clusters", e.KeyPath);   // the CLI's exit 2 and "config error:" line
        Assert.Equal(problem, e.Problem);          // the ops API's 404 body
        Assert.Equal([$"config error: ray_clusters: {problem}"], e.Lines());
        Assert.Null(config.FindCluster(name));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    public void A_configured_name_is_that_cluster(string name)
    {
        var config = Config("a", "b");

        Assert.Same(config.Clusters.Single(c => c.Name == name), config.GetCluster(name));
    }
}

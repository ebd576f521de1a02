namespace MLRay.Tests.Unit;

/// <summary><c>ray_clusters[].kuberay</c>: defaults, and errors that name their key path.</summary>
public class KubeRayConfigTests
{
    private static readonly DictionaryEnvironment NoEnv = new(new Dictionary<string, string>());

    private static MLRayConfig Load(string kuberay) => ConfigLoader.Load($"""
        mlflow:
          tracking_uri: http://mlflow:8080
        ray_clusters:
        - name: ray-cluster-py39
          python_version: '3.9'
          dashboard_address: http://ray:8265
        {kuberay}
        """, NoEnv);

    [Fact]
    public void Without_the_section_the_defaults_hold_and_no_image_is_set()
    {
        var settings = Load("").Clusters[0].KubeRay;
        Assert.Null(settings.Image);
        Assert.Equal(KubeRaySettings.DefaultRayVersion, settings.RayVersion);
        Assert.Equal(new PodResources("2", "4Gi"), settings.Head);
        Assert.Equal((1, 1, 1), (settings.Workers.Replicas, settings.Workers.MinReplicas, settings.Workers.MaxReplicas));
    }

    [Fact]
    public void Replicas_widen_the_default_bounds()
    {
        var workers = Load("  kuberay: {image: img, workers: {replicas: 3}}").Clusters[0].KubeRay.Workers;
        Assert.Equal((3, 1, 3), (workers.Replicas, workers.MinReplicas, workers.MaxReplicas));
    }

    [Theory]
    [InlineData("  kuberay: {head: {memory: 4GB}}", "ray_clusters[0].kuberay.head.memory")]
    [InlineData("  kuberay: {head: {cpu: two}}", "ray_clusters[0].kuberay.head.cpu")]
    [InlineData("  kuberay: {workers: {replicas: 1, min_replicas: 2}}", "ray_clusters[0].kuberay.workers")]
    [InlineData("  kuberay: {workers: {replicas: -1}}", "ray_clusters[0].kuberay.workers.replicas")]
    [InlineData("  kuberay: {imagee: x}", "ray_clusters[0].kuberay.imagee")]
    public void Invalid_values_name_their_key(string kuberay, string path)
    {
        var e = Assert.Throws<ConfigException>(() => Load(kuberay));
        Assert.Equal(path, e.KeyPath);
    }
}

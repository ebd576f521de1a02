using MLRay.Cli.Rendering;
using MLRay.Deploy;
using MLRay.Emulators.Mlflow;
using MLRay.Emulators.Ray;
using MLRay.Serve;
using Spectre.Console;

namespace MLRay.Cli.Demo;

/// <summary>
/// <c>mlray demo</c>: the seed's scenario on emulators over real HTTP. An emulated MLflow holds the three catboost
/// models; two emulated Ray clusters (py39 on aarch64, py312 on x86_64) receive them through the same deploy
/// core as <c>mlray deploy</c>. catboost 1.1 has no aarch64 wheel, so Ray fails that one app with pip's message.
/// </summary>
public sealed class DemoRunner(IAnsiConsole console, string workingDir, TimeSpan buildTime)
{
    public async Task<IReadOnlyList<DeployReport>> RunAsync(CancellationToken ct = default)
    {
        console.Write(new Rule("[bold]MLRay demo[/]: MLflow registry → Ray Serve, one cluster per Python version"));
        await using var mlflow = await MlflowEmulator.StartAsync(ct: ct);
        var py39 = new RayEmulatorOptions { Architecture = "aarch64", PythonVersion = "3.9.22", BuildTime = buildTime };
        var py312 = new RayEmulatorOptions { Architecture = "x86_64", PythonVersion = "3.12.11", BuildTime = buildTime };
        await using var ray39 = await RayDashboardEmulator.StartAsync(py39, ct);
        await using var ray312 = await RayDashboardEmulator.StartAsync(py312, ct);
        console.MarkupLine($"Emulated MLflow at [blue]{mlflow.BaseUri}[/]; Ray py39 (aarch64) at [blue]{ray39.BaseUri}[/]; Ray py312 (x86_64) at [blue]{ray312.BaseUri}[/]");

        SeedModels.RegisterAll(mlflow);
        foreach (var m in SeedModels.All)
            console.MarkupLine($"Registered [bold]{m.RegisteredName}[/] (Python {m.PythonVersion}, catboost {m.CatboostVersion}) with tags ray.name, ray.num_replicas=1, num_cpus=0.5, memory=1 GiB");

        Directory.CreateDirectory(workingDir);
        var configPath = Path.Combine(workingDir, "config.yml");
        await File.WriteAllTextAsync(configPath, $"""
            mlray:
              working_dir: {workingDir}
            mlflow:
              tracking_uri: {mlflow.BaseUri}
            ray_clusters:
            - name: ray-cluster-py39
              python_version: '3.9'
              dashboard_address: {ray39.BaseUri}
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 60s
            - name: ray-cluster-py312
              python_version: '3.12'
              dashboard_address: {ray312.BaseUri}
              extra_pip: [pyarrow==19.0.1]
              deploy_timeout: 60s
            """, ct);
        console.MarkupLine($"Config written to [blue]{Markup.Escape(configPath)}[/]");

        var env = new DictionaryEnvironment(new Dictionary<string, string>());
        var config = ConfigLoader.LoadFile(configPath, env);
        using var services = new MLRayServices(config, env);
        var reports = new List<DeployReport>();
        foreach (var cluster in config.Clusters)
        {
            console.WriteLine();
            console.Write(new Rule($"mlray deploy {Markup.Escape(configPath)} {cluster.Name}").LeftJustified());
            var options = new DeployOptions { WorkingDir = workingDir, PollInterval = TimeSpan.FromMilliseconds(250) };
            var report = await Commands.DeployCommands.DeployWithProgressAsync(services.Deployer(cluster), options, console, false, ct);
            ReportRenderer.WriteModels(console, report.Desired);
            ReportRenderer.WriteReport(console, report);
            reports.Add(report);
        }

        WriteSummary(reports);
        return reports;
    }

    private void WriteSummary(IReadOnlyList<DeployReport> reports)
    {
        console.WriteLine();
        console.Write(new Rule("[bold]What is served[/]").LeftJustified());
        var table = new Table().Border(TableBorder.Rounded).AddColumn("cluster").AddColumn("app").AddColumn("route").AddColumn("status");
        foreach (var report in reports)
            foreach (var app in report.Apps)
                table.AddRow(report.Desired.Cluster.Name, Markup.Escape(app.App), "/" + Markup.Escape(app.App),
                    app.Outcome == AppOutcome.Running ? "[green]RUNNING[/]" : $"[red]{Markup.Escape(app.RayStatus)}[/]");
        console.Write(table);
        foreach (var failed in reports.SelectMany(r => r.Apps).Where(a => a.Outcome == AppOutcome.Failed))
        {
            console.MarkupLine($"[red]Why {Markup.Escape(failed.App)} is not served[/] (Ray's own words):");
            console.WriteLine(RayMessage.Summarize(failed.Message));
        }
        console.MarkupLine("catboost 1.1 publishes no Linux aarch64 wheel, so pip on the ARM py39 cluster cannot install it; the other apps on that cluster are unaffected.");
    }

    /// <summary>The demo went as the seed's story says: two apps running, the ARM catboost 1.1 app failed with pip's message.</summary>
    public static bool WentAsExpected(IReadOnlyList<DeployReport> reports)
    {
        var apps = reports.SelectMany(r => r.Apps.Select(a => (Cluster: r.Desired.Cluster.Name, App: a))).ToList();
        bool Has(string cluster, string app, AppOutcome outcome) => apps.Any(a => a.Cluster == cluster && a.App.App == app && a.App.Outcome == outcome);
        return apps.Count == 3
            && Has("ray-cluster-py312", "iris_classifier-py312-catboost12", AppOutcome.Running)
            && Has("ray-cluster-py39", "iris_classifier-py39-catboost12", AppOutcome.Running)
            && apps.Any(a => a.App.App == "iris_classifier-py39-catboost11" && a.App.Outcome == AppOutcome.Failed
                             && a.App.Message.Contains("No matching distribution found for catboost==1.1"));
    }
}

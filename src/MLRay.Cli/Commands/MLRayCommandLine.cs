using System.CommandLine;

namespace MLRay.Cli.Commands;

public static class MLRayCommandLine
{
    public static RootCommand Create() => new("MLRay: the MLflow Model Registry as the switch for Ray Serve")
    {
        DeployCommands.Deploy(),
        DeployCommands.Plan(),
        UndeployCommand.Create(),
        RenderCommands.Create(),
        DemoCommand.Create(),
        StatusCommand.Create(),
        WebhookCommands.Create(),
    };
}

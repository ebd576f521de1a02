using MLRay.Cli.Commands;

return await MLRayCommandLine.Create().Parse(args).InvokeAsync();

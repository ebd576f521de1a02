using MLRay.Cli.Commands;

return await MLRayCommandLine.InvokeAsync(args);

namespace MLRay.Emulators.Ray;

/// <summary>What an app's code is, as far as the data plane knows it: MLRay's model app, MLRay's gateway, or code it does not know.</summary>
internal enum ServeAppKind { Model, Gateway, Other }

internal static class ServeAppKinds
{
    /// <summary>MLRay's model app (<c>serve/mlray_serve/app.py</c>): MLflow's pyfunc scoring protocol.</summary>
    public const string ModelImportPath = "mlray_serve.app:build";

    /// <summary>MLRay's gateway (docs/serving.md): routes by the routing table in its deployment's <c>user_config</c>.</summary>
    public const string GatewayImportPath = "mlray_serve.gateway:build";

    public const string GatewayDeployment = "MLRayGateway";

    /// <summary>The <c>module:attr</c> form of an import path (Ray also accepts <c>module.attr</c>).</summary>
    public static string? Normalize(string? importPath)
    {
        if (importPath is null || importPath.Contains(':')) return importPath;
        var dot = importPath.LastIndexOf('.');
        return dot <= 0 ? importPath : importPath[..dot] + ":" + importPath[(dot + 1)..];
    }

    public static ServeAppKind Of(ServingApp app) => Normalize(app.ImportPath) switch
    {
        ModelImportPath => ServeAppKind.Model,
        GatewayImportPath => ServeAppKind.Gateway,
        _ => ServeAppKind.Other,
    };
}

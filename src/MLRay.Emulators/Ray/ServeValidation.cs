using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLRay.Emulators.Internal;

namespace MLRay.Emulators.Ray;

/// <summary>
/// PUT-time checks of <c>ServeDeploySchema</c> with pydantic-v1 style error reporting
/// (<c>ValidationError(model='ServeDeploySchema', errors=[...])</c>), plus the controller-side runtime_env
/// type checks that Ray reports as a 400 <c>RayTaskError</c>.
/// </summary>
internal static class ServeValidation
{
    internal sealed record Error(object[] Loc, string Msg, string Type, string? Ctx = null);

    public static string Render(IReadOnlyList<Error> errors)
    {
        var sb = new StringBuilder("ValidationError(model='ServeDeploySchema', errors=[");
        for (var i = 0; i < errors.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            var e = errors[i];
            sb.Append("{'loc': (");
            sb.Append(string.Join(", ", e.Loc.Select(l => l is int n ? n.ToString(CultureInfo.InvariantCulture) : Py.Repr((string)l))));
            if (e.Loc.Length == 1) sb.Append(',');
            sb.Append("), 'msg': ").Append(Py.Repr(e.Msg)).Append(", 'type': ").Append(Py.Repr(e.Type));
            if (e.Ctx is not null) sb.Append(", 'ctx': ").Append(e.Ctx);
            sb.Append('}');
        }
        sb.Append("])");
        return sb.ToString();
    }

    public static List<Error> Validate(JsonNode? body)
    {
        var errors = new List<Error>();
        if (body is not JsonObject root)
        {
            errors.Add(new(["__root__"], $"ServeDeploySchema expected dict not {Py.TypeName(body)}", "type_error"));
            return errors;
        }

        if (root.TryGetPropertyValue("proxy_location", out var proxyLocation) && proxyLocation is not null)
        {
            var s = Json.AsString(proxyLocation);
            if (s is not ("Disabled" or "HeadOnly" or "EveryNode"))
                errors.Add(new(["proxy_location"], "value is not a valid enumeration member; permitted: 'Disabled', 'HeadOnly', 'EveryNode'",
                    "type_error.enum", "{'enum_values': [<ProxyLocation.Disabled: 'Disabled'>, <ProxyLocation.HeadOnly: 'HeadOnly'>, <ProxyLocation.EveryNode: 'EveryNode'>]}"));
        }
        foreach (var key in new[] { "http_options", "grpc_options", "logging_config" })
        {
            if (root.TryGetPropertyValue(key, out var v) && v is not null and not JsonObject)
                errors.Add(new([key], "value is not a valid dict", "type_error.dict"));
        }
        if (root["http_options"] is JsonObject http && http["port"] is { } port && !Json.IsInteger(port, out _))
            errors.Add(new(["http_options", "port"], "value is not a valid integer", "type_error.integer"));

        var appsValid = false;
        if (!root.TryGetPropertyValue("applications", out var appsNode))
        {
            errors.Add(new(["applications"], "field required", "value_error.missing"));
        }
        else if (appsNode is not JsonArray apps)
        {
            errors.Add(new(["applications"], "value is not a valid list", "type_error.list"));
        }
        else
        {
            var before = errors.Count;
            for (var i = 0; i < apps.Count; i++) ValidateApp(apps[i], i, errors);
            appsValid = errors.Count == before;
            if (appsValid)
            {
                var appError = ValidateAppSet(apps);
                if (appError is not null)
                {
                    errors.Add(new(["applications"], appError, "value_error"));
                    appsValid = false;
                }
            }
        }

        if (root.TryGetPropertyValue("target_capacity", out var tc) && tc is not null)
        {
            if (!Json.TryDouble(tc, out var capacity))
                errors.Add(new(["target_capacity"], "value is not a valid float", "type_error.float"));
            else if (capacity < 0)
                errors.Add(new(["target_capacity"], "ensure this value is greater than or equal to 0", "value_error.number.not_ge", "{'limit_value': 0}"));
            else if (capacity > 100)
                errors.Add(new(["target_capacity"], "ensure this value is less than or equal to 100", "value_error.number.not_le", "{'limit_value': 100}"));
        }

        // Root validator nested_host_and_port (pydantic v1 runs it even after field errors).
        if (!appsValid)
        {
            // 'applications' failed, so the root validator iterates None; pydantic v1 reports that TypeError too.
            errors.Add(new(["__root__"], "'NoneType' object is not iterable", "type_error"));
        }
        else if (appsNode is JsonArray list)
        {
            foreach (var app in list.OfType<JsonObject>())
            {
                var name = Json.AsString(app["name"]) ?? "default";
                if (app.ContainsKey("host"))
                {
                    errors.Add(new(["__root__"], $"Host \"{Json.AsString(app["host"]) ?? app["host"]?.ToJsonString()}\" is set in the config for application `{name}`. Please remove it and set host in the top level deploy config only.", "value_error"));
                    break;
                }
                if (app.ContainsKey("port"))
                {
                    errors.Add(new(["__root__"], $"Port {app["port"]?.ToJsonString() ?? "None"} is set in the config for application `{name}`. Please remove it and set port in the top level deploy config only.", "value_error"));
                    break;
                }
            }
        }
        return errors;
    }

    private static string? ValidateAppSet(JsonArray apps)
    {
        var names = apps.Select(a => Json.AsString(a!["name"]) ?? "default").ToList();
        var dupNames = names.Where(n => names.Count(x => x == n) > 1).Distinct().Select(n => $"\"{n}\"").ToList();
        if (dupNames.Count > 0)
            return $"Found multiple configs for {(dupNames.Count == 1 ? "application " : "applications ")}{string.Join(", ", dupNames)}. Please remove all duplicates.";
        var routes = apps.Select(a => a!.AsObject().TryGetPropertyValue("route_prefix", out var r) ? Json.AsString(r) : "/")
            .Where(r => r is not null).Select(r => r!).ToList();
        var dupRoutes = routes.Where(r => routes.Count(x => x == r) > 1).Distinct().Select(r => $"\"{r}\"").ToList();
        if (dupRoutes.Count > 0)
            return $"Found duplicate applications for {(dupRoutes.Count == 1 ? "route prefix " : "route prefixes ")}{string.Join(", ", dupRoutes)}. Please ensure each application's route_prefix is unique.";
        if (names.Any(n => n.Length == 0))
            return "Application names must be nonempty.";
        return null;
    }

    private static void ValidateApp(JsonNode? node, int i, List<Error> errors)
    {
        if (node is not JsonObject app)
        {
            errors.Add(new(["applications", i], "value is not a valid dict", "type_error.dict"));
            return;
        }
        if (app.TryGetPropertyValue("name", out var name) && Json.AsString(name) is null)
            errors.Add(new(["applications", i, "name"], "str type expected", "type_error.str"));

        if (app.TryGetPropertyValue("route_prefix", out var route) && route is not null)
        {
            var r = Json.AsString(route);
            if (r is null) errors.Add(new(["applications", i, "route_prefix"], "str type expected", "type_error.str"));
            else if (RoutePrefixError(r) is { } msg) errors.Add(new(["applications", i, "route_prefix"], msg, "value_error"));
        }

        if (!app.TryGetPropertyValue("import_path", out var importPath) || importPath is null)
            errors.Add(new(["applications", i, "import_path"], importPath is null && app.ContainsKey("import_path") ? "none is not an allowed value" : "field required",
                importPath is null && app.ContainsKey("import_path") ? "type_error.none.not_allowed" : "value_error.missing"));
        else if (Json.AsString(importPath) is not { } ip)
            errors.Add(new(["applications", i, "import_path"], "str type expected", "type_error.str"));
        else if (ImportPathError(ip) is { } msg)
            errors.Add(new(["applications", i, "import_path"], msg, "value_error"));

        if (app.TryGetPropertyValue("runtime_env", out var env) && env is not null)
        {
            if (env is not JsonObject envObj) errors.Add(new(["applications", i, "runtime_env"], "value is not a valid dict", "type_error.dict"));
            else if (RemoteUriError(envObj) is { } msg) errors.Add(new(["applications", i, "runtime_env"], msg, "value_error"));
        }
        if (app.TryGetPropertyValue("args", out var args) && args is not null and not JsonObject)
            errors.Add(new(["applications", i, "args"], "value is not a valid dict", "type_error.dict"));

        if (app.TryGetPropertyValue("deployments", out var deps) && deps is not null)
        {
            if (deps is not JsonArray depList)
            {
                errors.Add(new(["applications", i, "deployments"], "value is not a valid list", "type_error.list"));
            }
            else
            {
                for (var j = 0; j < depList.Count; j++) ValidateDeployment(depList[j], i, j, errors);
            }
        }
    }

    private static void ValidateDeployment(JsonNode? node, int i, int j, List<Error> errors)
    {
        object[] Loc(params object[] rest) => new object[] { "applications", i, "deployments", j }.Concat(rest).ToArray();
        if (node is not JsonObject dep)
        {
            errors.Add(new(Loc(), "value is not a valid dict", "type_error.dict"));
            return;
        }
        var fieldErrors = errors.Count;
        if (!dep.TryGetPropertyValue("name", out var name) || name is null)
            errors.Add(new(Loc("name"), "field required", "value_error.missing"));
        else if (Json.AsString(name) is null)
            errors.Add(new(Loc("name"), "str type expected", "type_error.str"));

        // num_replicas: Optional[Union[PositiveInt, str]] — pydantic v1 coerces numbers to str when PositiveInt fails.
        string? numReplicasStr = null;
        var numReplicasIsInt = false;
        if (dep.TryGetPropertyValue("num_replicas", out var nr) && nr is not null)
        {
            if (Json.IsInteger(nr, out var n) && n > 0 && !nr.ToJsonString().Contains('.')) numReplicasIsInt = true;
            else if (Json.AsString(nr) is { } s) numReplicasStr = s;
            else if (Json.Kind(nr) == JsonValueKind.Number) numReplicasStr = nr.ToJsonString();
            else if (Json.Kind(nr) is JsonValueKind.True or JsonValueKind.False) numReplicasIsInt = nr.GetValue<bool>();
            else
            {
                errors.Add(new(Loc("num_replicas"), "value is not a valid integer", "type_error.integer"));
                errors.Add(new(Loc("num_replicas"), "str type expected", "type_error.str"));
            }
        }
        foreach (var key in new[] { "max_ongoing_requests" })
        {
            if (dep.TryGetPropertyValue(key, out var v) && v is not null)
            {
                if (!Json.IsInteger(v, out var n)) errors.Add(new(Loc(key), "value is not a valid integer", "type_error.integer"));
                else if (n <= 0) errors.Add(new(Loc(key), "ensure this value is greater than 0", "value_error.number.not_gt", "{'limit_value': 0}"));
            }
        }
        foreach (var (key, strict) in new[] { ("graceful_shutdown_wait_loop_s", false), ("graceful_shutdown_timeout_s", false), ("health_check_period_s", true), ("health_check_timeout_s", true) })
        {
            if (dep.TryGetPropertyValue(key, out var v) && v is not null)
            {
                if (!Json.TryDouble(v, out var d)) errors.Add(new(Loc(key), "value is not a valid float", "type_error.float"));
                else if (strict ? d <= 0 : d < 0)
                    errors.Add(strict
                        ? new(Loc(key), "ensure this value is greater than 0", "value_error.number.not_gt", "{'limit_value': 0}")
                        : new(Loc(key), "ensure this value is greater than or equal to 0", "value_error.number.not_ge", "{'limit_value': 0}"));
            }
        }
        foreach (var key in new[] { "user_config", "autoscaling_config" })
        {
            if (dep.TryGetPropertyValue(key, out var v) && v is not null and not JsonObject)
                errors.Add(new(Loc(key), "value is not a valid dict", "type_error.dict"));
        }
        if (dep.TryGetPropertyValue("ray_actor_options", out var rao) && rao is not null)
        {
            if (rao is not JsonObject opts)
            {
                errors.Add(new(Loc("ray_actor_options"), "value is not a valid dict", "type_error.dict"));
            }
            else
            {
                foreach (var key in new[] { "num_cpus", "num_gpus", "memory" })
                {
                    if (opts.TryGetPropertyValue(key, out var v) && v is not null)
                    {
                        if (!Json.TryDouble(v, out var d)) errors.Add(new(Loc("ray_actor_options", key), "value is not a valid float", "type_error.float"));
                        else if (d < 0) errors.Add(new(Loc("ray_actor_options", key), "ensure this value is greater than or equal to 0", "value_error.number.not_ge", "{'limit_value': 0}"));
                    }
                }
                if (opts.TryGetPropertyValue("runtime_env", out var renv) && renv is not null)
                {
                    if (renv is not JsonObject renvObj) errors.Add(new(Loc("ray_actor_options", "runtime_env"), "value is not a valid dict", "type_error.dict"));
                    else if (RemoteUriError(renvObj) is { } msg) errors.Add(new(Loc("ray_actor_options", "runtime_env"), msg, "value_error"));
                }
                if (opts.TryGetPropertyValue("resources", out var res) && res is not null and not JsonObject)
                    errors.Add(new(Loc("ray_actor_options", "resources"), "value is not a valid dict", "type_error.dict"));
            }
        }
        if (dep.TryGetPropertyValue("max_replicas_per_node", out var mrpn) && mrpn is not null && !Json.IsInteger(mrpn, out _))
            errors.Add(new(Loc("max_replicas_per_node"), "value is not a valid integer", "type_error.integer"));

        if (errors.Count != fieldErrors) return;
        // Root validators of DeploymentSchema.
        var autoscaling = dep["autoscaling_config"];
        if (numReplicasIsInt && autoscaling is not null)
            errors.Add(new(Loc("__root__"), "Manually setting num_replicas is not allowed when autoscaling_config is provided.", "value_error"));
        else if (numReplicasStr is not null && numReplicasStr != "auto")
            errors.Add(new(Loc("__root__"), $"`num_replicas` must be an int or \"auto\", but got: {numReplicasStr}", "value_error"));
        else if (dep["max_replicas_per_node"] is not null && dep["placement_group_bundles"] is not null)
            errors.Add(new(Loc("__root__"), "Setting max_replicas_per_node is not allowed when placement_group_bundles is provided.", "value_error"));
    }

    public static string? RoutePrefixError(string v)
    {
        if (v.Length < 1 || v[0] != '/') return $"Got \"{v}\" for route_prefix. Route prefix must start with \"/\".";
        if (v.Length > 1 && v[^1] == '/') return $"Got \"{v}\" for route_prefix. Route prefix cannot end with \"/\" unless the entire prefix is just \"/\".";
        if (v.Contains('{') || v.Contains('}')) return $"Got \"{v}\" for route_prefix. Route prefix cannot contain wildcards, so it cannot contain \"{{\" or \"}}\".";
        return null;
    }

    public static string? ImportPathError(string v)
    {
        if (v.Contains(':'))
        {
            if (v.Count(c => c == ':') > 1) return $"Got invalid import path \"{v}\". An import path may have at most one colon.";
            var idx = v.LastIndexOf(':');
            if (idx == 0 || idx == v.Length - 1) return $"Got invalid import path \"{v}\". An import path may not start or end with a colon.";
            return null;
        }
        if (!v.Contains('.'))
            return $"Got invalid import path \"{v}\". An import path must contain at least on dot or colon separating the module (and potentially submodules) from the deployment graph. E.g.: \"module.deployment_graph\".";
        var dot = v.LastIndexOf('.');
        if (dot == 0 || dot == v.Length - 1) return $"Got invalid import path \"{v}\". An import path may not start or end with a dot.";
        return null;
    }

    private static string? RemoteUriError(JsonObject env)
    {
        var uris = new List<JsonNode?>();
        if (env["py_modules"] is JsonArray mods) uris.AddRange(mods);
        if (env.ContainsKey("working_dir")) uris.Add(env["working_dir"]);
        foreach (var node in uris)
        {
            if (node is null) continue;
            var uri = Json.AsString(node) ?? node.ToJsonString();
            if (!uri.Contains("://"))
                return "runtime_envs in the Serve config support only remote URIs in working_dir and py_modules. Got error when parsing URI: "
                    + $"Invalid protocol for runtime_env URI {uri}. Supported protocols: ['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE', 'AZURE', 'ABFSS']. Original error: ";
        }
        return null;
    }

    /// <summary>Controller-side runtime_env checks (raised inside <c>apply_config</c>, reported as a 400 RayTaskError).</summary>
    public static string? ControllerError(JsonObject body)
    {
        if (body["applications"] is not JsonArray apps) return null;
        foreach (var app in apps.OfType<JsonObject>())
        {
            if (RuntimeEnvTypeError(app["runtime_env"] as JsonObject) is { } e) return e;
            if (app["deployments"] is JsonArray deps)
                foreach (var dep in deps.OfType<JsonObject>())
                    if (RuntimeEnvTypeError(dep["ray_actor_options"]?["runtime_env"] as JsonObject) is { } de) return de;
        }
        return null;
    }

    private static string? RuntimeEnvTypeError(JsonObject? env)
    {
        if (env is null) return null;
        if (env.TryGetPropertyValue("env_vars", out var ev) && ev is not null)
        {
            if (ev is not JsonObject evo || evo.Any(kv => Json.AsString(kv.Value) is null))
                return $"TypeError: runtime_env['env_vars'] must be of type Dict[str, str], got {Py.Repr(ev)} with type {(ev is JsonObject ? "<class 'dict'> containing non-str values" : "<class '" + Py.TypeName(ev) + "'>")}";
        }
        if (env.TryGetPropertyValue("pip", out var pip) && pip is not null)
        {
            switch (pip)
            {
                case JsonArray a when a.All(x => Json.AsString(x) is not null):
                case JsonValue v when Json.AsString(v) is not null:
                    break;
                case JsonObject o:
                    var extra = o.Select(kv => kv.Key).Except(["packages", "pip_check", "pip_version", "pip_install_options"]).ToList();
                    if (extra.Count > 0)
                        return $"ValueError: runtime_env['pip'] dict contains unexpected keys: {{{string.Join(", ", extra.Select(Py.Repr))}}}. Valid keys are: ['packages', 'pip_check', 'pip_version', 'pip_install_options'].";
                    if (!o.ContainsKey("packages"))
                        return "ValueError: runtime_env['pip'] must include field 'packages', but got " + Py.Repr(o);
                    break;
                default:
                    return $"TypeError: runtime_env['pip'] must be of type str or list or dict, got {Py.TypeName(pip) switch { var t => "<class '" + t + "'>" }}";
            }
            if (env.ContainsKey("conda"))
                return "ValueError: The 'pip' field and 'conda' field of runtime_env cannot both be specified.\n" +
                       $"specified pip field: {Py.Repr(pip)}\nspecified conda field: {Py.Repr(env["conda"])}\nTo use pip with conda, please only set the 'conda' field, and specify your pip dependencies within the conda YAML config dict.";
        }
        return null;
    }
}

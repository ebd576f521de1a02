using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MLRay.Emulators.Internal;
using MLRay.Emulators.Seed;

namespace MLRay.Emulators.Ray;

/// <summary>Ray's error texts (tracebacks as the controller / runtime-env agent format them).</summary>
internal static class RayMessages
{
    /// <summary>pip's "(from versions: …)" for a project on a node of <paramref name="architecture"/>: catboost's releases
    /// that have a file for it (the package index emulator serves the same <see cref="CatboostReleases"/>), else none.</summary>
    public static string FromVersions(string project, string architecture) =>
        string.Equals(project, "catboost", StringComparison.OrdinalIgnoreCase) && CatboostReleases.InstallableOn(architecture) is { Count: > 0 } versions
            ? string.Join(", ", versions)
            : "none";

    public static string PyLib(string pythonVersion)
    {
        var parts = pythonVersion.Split('.');
        var mm = parts.Length >= 2 ? parts[0] + "." + parts[1] : pythonVersion;
        return $"/home/ray/anaconda3/lib/python{mm}";
    }

    public static string RuntimeEnvSetupFailed(string app, string pythonVersion, string architecture, string sessionName,
        IReadOnlyList<string> requirements, string failing, string failingName)
    {
        var lib = PyLib(pythonVersion);
        var ray = lib + "/site-packages/ray";
        var hash = Convert.ToHexString(SHA1.HashData(Encoding.UTF8.GetBytes(string.Join("\n", requirements)))).ToLowerInvariant();
        var dir = $"/tmp/ray/{sessionName}/runtime_resources/pip/{hash}";
        var versions = FromVersions(failingName, architecture);
        var sb = new StringBuilder();
        sb.Append($"Runtime env setup for app '{app}' failed:\n");
        sb.Append("Traceback (most recent call last):\n");
        sb.Append($"  File \"{ray}/serve/_private/application_state.py\", line 1161, in _reconcile_build_app_task\n");
        sb.Append("    args, err = ray.get(self._build_app_task_info.obj_ref)\n");
        sb.Append("                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/auto_init_hook.py\", line 22, in auto_init_wrapper\n");
        sb.Append("    return fn(*args, **kwargs)\n");
        sb.Append("           ^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/client_mode_hook.py\", line 104, in wrapper\n");
        sb.Append("    return func(*args, **kwargs)\n");
        sb.Append("           ^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/worker.py\", line 2849, in get\n");
        sb.Append("    values, debugger_breakpoint = worker.get_objects(object_refs, timeout=timeout)\n");
        sb.Append("                                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/worker.py\", line 939, in get_objects\n");
        sb.Append("    raise value\n");
        sb.Append("ray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment.\n");
        sb.Append("Traceback (most recent call last):\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/agent/runtime_env_agent.py\", line 384, in _create_runtime_env_with_retry\n");
        sb.Append("    runtime_env_context = await asyncio.wait_for(\n");
        sb.Append("                          ^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{lib}/asyncio/tasks.py\", line 520, in wait_for\n");
        sb.Append("    return await fut\n");
        sb.Append("           ^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/agent/runtime_env_agent.py\", line 339, in _setup_runtime_env\n");
        sb.Append("    await create_for_plugin_if_needed(\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/plugin.py\", line 254, in create_for_plugin_if_needed\n");
        sb.Append("    size_bytes = await plugin.create(uri, runtime_env, context, logger=logger)\n");
        sb.Append("                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/pip.py\", line 289, in create\n");
        sb.Append("    return await task\n");
        sb.Append("           ^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/pip.py\", line 269, in _create_for_hash\n");
        sb.Append("    await PipProcessor(\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/pip.py\", line 202, in _run\n");
        sb.Append("    await self._install_pip_packages(\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/pip.py\", line 178, in _install_pip_packages\n");
        sb.Append("    await check_output_cmd(pip_install_cmd, logger=logger, cwd=cwd, env=pip_env)\n");
        sb.Append($"  File \"{ray}/_private/runtime_env/utils.py\", line 105, in check_output_cmd\n");
        sb.Append("    raise SubprocessCalledProcessError(\n");
        sb.Append("ray._private.runtime_env.utils.SubprocessCalledProcessError: Run cmd[9] failed with the following details.\n");
        sb.Append($"Command '['{dir}/virtualenv/bin/python', '-m', 'pip', 'install', '--disable-pip-version-check', '--no-cache-dir', '-r', '{dir}/ray_runtime_env_internal_pip_requirements.txt']' returned non-zero exit status 1.\n");
        sb.Append("Last 50 lines of stdout:\n");
        var line = 1;
        foreach (var req in requirements)
        {
            if (req == failing) break;
            sb.Append($"    Collecting {req} (from -r {dir}/ray_runtime_env_internal_pip_requirements.txt (line {line++}))\n");
        }
        sb.Append($"    ERROR: Could not find a version that satisfies the requirement {failing} (from versions: {versions})\n");
        sb.Append($"    ERROR: No matching distribution found for {failing}\n");
        return sb.ToString();
    }

    public static string ModuleNotFound(string app, string pythonVersion, string module)
    {
        var lib = PyLib(pythonVersion);
        var ray = lib + "/site-packages/ray";
        var sb = new StringBuilder();
        sb.Append($"Deploying app '{app}' failed with exception:\n");
        sb.Append("Traceback (most recent call last):\n");
        sb.Append($"  File \"{ray}/serve/_private/application_state.py\", line 1289, in build_serve_application\n");
        sb.Append("    app = call_user_app_builder_with_args_if_necessary(import_attr(import_path), args)\n");
        sb.Append("                                                       ^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{ray}/_common/utils.py\", line 121, in import_attr\n");
        sb.Append("    module = importlib.import_module(module_name)\n");
        sb.Append("             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append($"  File \"{lib}/importlib/__init__.py\", line 90, in import_module\n");
        sb.Append("    return _bootstrap._gcd_import(name[level:], package, level)\n");
        sb.Append("           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        sb.Append("  File \"<frozen importlib._bootstrap>\", line 1387, in _gcd_import\n");
        sb.Append("  File \"<frozen importlib._bootstrap>\", line 1360, in _find_and_load\n");
        sb.Append("  File \"<frozen importlib._bootstrap>\", line 1324, in _find_and_load_unlocked\n");
        sb.Append($"ModuleNotFoundError: No module named '{module}'\n");
        return sb.ToString();
    }

    public static string DeploymentDoesNotExist(string pythonVersion, string deployment, IEnumerable<string> available, bool duringBuild)
    {
        var ray = PyLib(pythonVersion) + "/site-packages/ray";
        var sb = new StringBuilder();
        sb.Append("Traceback (most recent call last):\n");
        if (duringBuild)
        {
            sb.Append($"  File \"{ray}/serve/_private/application_state.py\", line 1196, in _reconcile_build_app_task\n");
            sb.Append("    overrided_infos = override_deployment_info(\n");
            sb.Append("                      ^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        }
        else
        {
            sb.Append($"  File \"{ray}/serve/_private/application_state.py\", line 623, in apply_app_config\n");
            sb.Append("    overrided_infos = override_deployment_info(\n");
            sb.Append("                      ^^^^^^^^^^^^^^^^^^^^^^^^^\n");
        }
        sb.Append($"  File \"{ray}/serve/_private/application_state.py\", line 1363, in override_deployment_info\n");
        sb.Append("    raise ValueError(\n");
        sb.Append($"ValueError: Deployment '{deployment}' does not exist. Available: [{string.Join(", ", available.Select(a => Internal.Py.Repr(a)))}]\n");
        return sb.ToString();
    }

    public static string ReplicaStartupFailed(int attempts, string runtimeEnvError) =>
        $"The deployment failed to start {attempts} times in a row. This may be due to a problem with its constructor or initial health check failing. See controller and replica logs for details. Error:\n"
        + runtimeEnvError;

    public static string ReplicaRuntimeEnvError(string failing, string failingName, string architecture)
    {
        var versions = FromVersions(failingName, architecture);
        return "ray.exceptions.RuntimeEnvSetupError: Failed to set up runtime environment.\n"
            + "ray._private.runtime_env.utils.SubprocessCalledProcessError: Run cmd[9] failed with the following details.\n"
            + "Last 50 lines of stdout:\n"
            + $"    ERROR: Could not find a version that satisfies the requirement {failing} (from versions: {versions})\n"
            + $"    ERROR: No matching distribution found for {failing}\n";
    }

    public static string SlowScheduling(string deployment, string app, int replicas, string required, string available) =>
        $"Deployment '{deployment}' in application '{app}' has {replicas} replicas that have taken more than 30s to be scheduled. "
        + "This may be due to waiting for the cluster to auto-scale or for a runtime environment to be installed. "
        + $"Resources required for each replica: {required}, total resources available: {available}. Use `ray status` for more details.";

    public static string JsonDecodeTraceback(string pythonVersion, string error)
    {
        var lib = PyLib(pythonVersion);
        var site = lib + "/site-packages";
        return "Traceback (most recent call last):\n"
            + $"  File \"{site}/ray/dashboard/optional_utils.py\", line 188, in decorator\n"
            + "    return await f(self, *args, **kwargs)\n"
            + "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"  File \"{site}/ray/dashboard/modules/serve/serve_head.py\", line 130, in put_all_applications\n"
            + "    config: ServeDeploySchema = ServeDeploySchema.parse_obj(await req.json())\n"
            + "                                                            ^^^^^^^^^^^^^^^^\n"
            + $"  File \"{site}/aiohttp/web_request.py\", line 739, in json\n"
            + "    return loads(body)\n"
            + "           ^^^^^^^^^^^\n"
            + $"  File \"{lib}/json/__init__.py\", line 346, in loads\n"
            + "    return _default_decoder.decode(s)\n"
            + "           ^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"  File \"{lib}/json/decoder.py\", line 338, in decode\n"
            + "    obj, end = self.raw_decode(s, idx=_w(s, 0).end())\n"
            + "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"  File \"{lib}/json/decoder.py\", line 356, in raw_decode\n"
            + "    raise JSONDecodeError(\"Expecting value\", s, err.value) from None\n"
            + $"json.decoder.JSONDecodeError: {error}\n";
    }

    public static string ControllerTaskError(string pythonVersion, int controllerPid, string actorId, string error)
    {
        var ray = PyLib(pythonVersion) + "/site-packages/ray";
        return $"ray::ServeController.apply_config() (pid={controllerPid.ToString(CultureInfo.InvariantCulture)}, ip=127.0.0.1, actor_id={actorId}, repr=<ray.serve._private.controller.ServeController object at 0x7f3a2c1d5e50>)\n"
            + $"  File \"{ray}/serve/_private/controller.py\", line 1003, in apply_config\n"
            + "    self.application_state_manager.apply_app_configs(\n"
            + $"  File \"{ray}/serve/_private/application_state.py\", line 1085, in apply_app_configs\n"
            + "    validate_runtime_env(app_config.runtime_env)\n"
            + error + "\n";
    }

    public static string InjectedPutFailure(string pythonVersion)
    {
        var site = PyLib(pythonVersion) + "/site-packages";
        return "Traceback (most recent call last):\n"
            + $"  File \"{site}/ray/dashboard/optional_utils.py\", line 188, in decorator\n"
            + "    return await f(self, *args, **kwargs)\n"
            + "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"  File \"{site}/ray/dashboard/modules/serve/serve_head.py\", line 155, in put_all_applications\n"
            + "    client.deploy_apps(config)\n"
            + "ray.exceptions.RayActorError: The actor died unexpectedly before finishing this task. (injected fault)\n";
    }

    /// <summary>The traceback a replica's exception in MLRay's model app leaves (the body of an injected <see cref="PredictFault"/> of 500 or more).</summary>
    public static string PredictFailed(string pythonVersion, string app, string? model, string? version)
    {
        var site = PyLib(pythonVersion) + "/site-packages";
        return "Traceback (most recent call last):\n"
            + $"  File \"{site}/ray/serve/_private/replica.py\", line 1184, in call_user_method\n"
            + "    result = await method_to_call(*request_args, **request_kwargs)\n"
            + "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"  File \"{site}/mlray_serve/app.py\", line 57, in __call__\n"
            + "    response = await self._server.handle(await request.body(), request.headers.get(\"content-type\"))\n"
            + "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            + $"RuntimeError: injected fault of model {Py.Repr(model ?? "?")} version {Py.Repr(version ?? "?")} (application {Py.Repr(app)})\n";
    }

    public static string PyFloat(double d) =>
        double.IsInteger(d) && Math.Abs(d) < 1e16
            ? d.ToString("0.0", CultureInfo.InvariantCulture)
            : d.ToString("R", CultureInfo.InvariantCulture);
}

namespace MLRay.Tests.Unit;

public class ConfigLoaderTests
{
    private static readonly DictionaryEnvironment Env = new(new Dictionary<string, string>
    {
        ["MLFLOW_TRACKING_URI"] = "http://localhost:8080",
        ["RAY_ADDR"] = "http://ray:8265",
    });

    [Fact]
    public void The_seeds_config_loads_unchanged()
    {
        const string seed = """
            mlray:
              working_dir: .mlray

            ray_clusters:
            - name: ray-cluster-py39
              python_version: '3.12'
              dashboard_address: http://localhost:8265
              mlflow_tracking_uri: http://mlflow-server:8080

            - name: ray-cluster-py312
              python_version: '3.12'
              dashboard_address: http://localhost:8266
              mlflow_tracking_uri: http://mlflow-server:8080
            """;
        var config = ConfigLoader.Load(seed, Env);
        Assert.Equal(".mlray", config.WorkingDir);
        Assert.Equal(new Uri("http://localhost:8080"), config.Mlflow.TrackingUri);
        Assert.Equal(".staging", config.Mlflow.ModelNameSuffix);
        Assert.Null(config.Mlflow.Alias);
        var py39 = config.FindCluster("ray-cluster-py39")!;
        Assert.Equal("3.12", py39.PythonVersion.ToString());
        Assert.Equal(new Uri("http://localhost:8265"), py39.DashboardAddress);
        Assert.Equal(new Uri("http://mlflow-server:8080"), py39.MlflowTrackingUri);
        Assert.Equal(TimeSpan.FromMinutes(10), py39.DeployTimeout);
    }

    [Fact]
    public void The_example_config_loads_and_sets_every_new_key()
    {
        var config = ConfigLoader.LoadFile(TestPaths.RepoFile("config.example.yml"), Env);
        var py39 = config.FindCluster("ray-cluster-py39")!;
        Assert.Equal("3.9", py39.PythonVersion.ToString());
        Assert.Equal(["pyarrow==19.0.1"], py39.ExtraPip);
        Assert.Equal("60", py39.EnvVars["MLFLOW_HTTP_REQUEST_TIMEOUT"]);
        Assert.Equal(new Uri("http://localhost:8080"), config.Mlflow.TrackingUri);
        Assert.Equal(2, config.Clusters.Count);
    }

    [Fact]
    public void Retry_defaults_top_level_keys_and_per_cluster_overrides()
    {
        var config = ConfigLoader.Load("""
            mlflow: {tracking_uri: 'http://m:1'}
            retry: {attempts: 5, delays: [30s, 2m]}
            ray_clusters:
            - {name: a, python_version: '3.9', dashboard_address: 'http://r:1'}
            - {name: b, python_version: '3.12', dashboard_address: 'http://r:2', retry: {delays: [10s]}}
            """, Env);
        Assert.Equal(5, config.FindCluster("a")!.Retry.Attempts);
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2)], config.FindCluster("a")!.Retry.Delays);
        Assert.Equal(5, config.FindCluster("b")!.Retry.Attempts);
        Assert.Equal([TimeSpan.FromSeconds(10)], config.FindCluster("b")!.Retry.Delays);
        Assert.Equal(TimeSpan.FromMinutes(2), config.FindCluster("a")!.Retry.DelayAfter(7)); // the last delay repeats

        var defaults = ConfigLoader.Load("ray_clusters: [{name: a, python_version: '3.9', dashboard_address: 'http://r:1'}]", Env).Clusters[0].Retry;
        Assert.Equal(3, defaults.Attempts);
        Assert.Equal([TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15)], defaults.Delays);

        foreach (var (yaml, path) in new[]
        {
            ("retry: {attempts: 0}", "retry.attempts"),
            ("retry: {delays: [soon]}", "retry.delays[0]"),
            ("retry: {delays: []}", "retry.delays"),
            ("retry: {tries: 2}", "retry.tries"),
        })
        {
            var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml + "\nray_clusters: [{name: a, python_version: '3.9', dashboard_address: 'http://r:1'}]", Env));
            Assert.Contains(path, e.Message);
        }
    }

    [Fact]
    public void New_keys_are_read_and_variables_expanded()
    {
        var config = ConfigLoader.Load("""
            mlflow:
              tracking_uri: http://mlflow:5000
              model_name_suffix: .prod
              alias: champion
            ray_clusters:
            - name: c1
              python_version: '3.9.22'
              dashboard_address: ${RAY_ADDR}
              env_vars: {A: '1', B: '${UNSET:-fallback}'}
              auth_token_env: RAY_TOKEN_C1
              deploy_timeout: 1h30m
            """, Env);
        Assert.Equal(new Uri("http://mlflow:5000"), config.Mlflow.TrackingUri);
        Assert.Equal((".prod", "champion"), (config.Mlflow.ModelNameSuffix, config.Mlflow.Alias));
        var c1 = config.Clusters.Single();
        Assert.Equal(new Uri("http://ray:8265"), c1.DashboardAddress);
        Assert.Equal(new Uri("http://mlflow:5000"), c1.MlflowTrackingUri);
        Assert.Equal("fallback", c1.EnvVars["B"]);
        Assert.Equal("RAY_TOKEN_C1", c1.AuthTokenEnv);
        Assert.Equal(TimeSpan.FromMinutes(90), c1.DeployTimeout);
        Assert.Equal(9, c1.PythonVersion.Minor);
        Assert.Equal(22, c1.PythonVersion.Patch);
    }

    private const string Valid = "ray_clusters:\n- name: c1\n  python_version: '3.9'\n  dashboard_address: http://ray:8265\n";

    public static TheoryData<string, string, string> Broken => new()
    {
        { "", "", "YAML mapping" },
        { "mlray: {working_dir: x}\n", "ray_clusters", "required but missing" },
        { "ray_clusters: []\n", "ray_clusters", "at least one" },
        { Valid + "  python_versoin: '3.9'\n", "ray_clusters[0].python_versoin", "unknown key" },
        { Valid.Replace("'3.9'", "three"), "ray_clusters[0].python_version", "not a Python version" },
        { Valid.Replace("http://ray:8265", "ray:8265"), "ray_clusters[0].dashboard_address", "http(s) URL" },
        { Valid.Replace("http://ray:8265", "${NOPE}"), "ray_clusters[0].dashboard_address", "${NOPE}" },
        { Valid + "  deploy_timeout: soon\n", "ray_clusters[0].deploy_timeout", "not a duration" },
        { Valid + "  extra_pip: ['==1']\n", "ray_clusters[0].extra_pip[0]", "not a pip requirement" },
        { Valid + "  auth_token_env: 'abc def'\n", "ray_clusters[0].auth_token_env", "environment variable name" },
        { Valid + "  env_vars: [a]\n", "ray_clusters[0].env_vars", "mapping" },
        { Valid + Valid["ray_clusters:\n".Length..], "ray_clusters", "more than once" },
        { Valid.Replace("name: c1", "name: ''"), "ray_clusters[0].name", "required but empty" },
        { "mlflow: {alias: 'a b'}\n" + Valid, "mlflow.alias", "not a valid MLflow alias" },
        { "mlflow: {tracking_uri: 'ftp://x'}\n" + Valid, "mlflow.tracking_uri", "http(s) URL" },
        { "mlflow: {model_name_suffix: ''}\n" + Valid, "mlflow.model_name_suffix", "must not be empty" },
        { "extra: 1\n" + Valid, "extra", "unknown key" },
        { "ray_clusters: [\n", "", "config.yml:2:1: while parsing a node" },
        // YamlDotNet throws InvalidOperationException here, not YamlException
        { Valid + "  extra_pip: [pyarrow==19.0.1\n  deploy_timeout: 10m\n", "", "config.yml:5:14: the '[' that starts here is never closed" },
        { new string('[', 100_000), "", $"nested deeper than {MLRay.Yaml.YamlText.MaxDepth} levels" },
        { "a: &x {b: *x}\n" + Valid, "", "alias *x refers to a node that contains it" },
        { "? [ray_clusters]\n: 1\n", "", "a mapping key must be a plain value" },
        { Valid + "  deploy_timeout: 1e300\n", "ray_clusters[0].deploy_timeout", "at most 30 days" },
        { Valid.Replace("'3.9'", "'3.99999999999'"), "ray_clusters[0].python_version", "not a Python version" },
        { "receiver: {allow_unsigned: maybe}\n" + Valid, "receiver.allow_unsigned", "not true or false" },
        { "receiver: {allow_unsigned: true, webhook_secret_env: RAY_ADDR}\n" + Valid, "receiver.allow_unsigned", "keep one" },
    };

    [Fact]
    public void The_ops_token_comes_from_the_variable_or_file_the_config_names_and_is_never_printed()
    {
        Assert.Null(ConfigLoader.Load(Valid, Env).Pipeline.OpsToken);
        var fromEnv = ConfigLoader.Load("receiver: {ops_token_env: RAY_ADDR}\n" + Valid, Env).Pipeline;
        Assert.Equal("http://ray:8265", fromEnv.OpsToken);
        Assert.DoesNotContain("http://ray:8265", fromEnv.ToString());
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "  file-token \n");
            Assert.Equal("file-token", ConfigLoader.Load($"receiver: {{ops_token_file: '{file}'}}\n" + Valid, Env).Pipeline.OpsToken);
            File.WriteAllText(file, "\n");
            var empty = Assert.Throws<ConfigException>(() => ConfigLoader.Load($"receiver: {{ops_token_file: '{file}'}}\n" + Valid, Env).Pipeline.OpsToken);
            Assert.Equal("receiver.ops_token_file", empty.KeyPath);
            Assert.Contains("is empty", empty.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Secrets_are_recorded_while_loading_and_read_only_where_they_are_used()
    {
        // Neither variable is set, nor does the file exist: plan, deploy, status and the worker load this config all the same.
        var config = ConfigLoader.Load("""
            receiver:
              webhook_secret_env: MLRAY_TEST_UNSET_WEBHOOK_SECRET
              ops_token_file: /nonexistent/ops-token
            """ + "\n" + Valid, Env, "/etc/mlray/config.yml");
        Assert.NotNull(config.Pipeline.WebhookSecretSource);
        Assert.Contains("WebhookSecret=***", config.Pipeline.ToString()); // printing neither reads nor shows a secret
        Assert.Contains("OpsToken=***", config.Pipeline.ToString());
        using (new MLRay.Cli.Commands.CliServices(config, Env, "config.yml")) { } // the CLI's clients

        var secret = Assert.Throws<ConfigException>(() => config.Pipeline.WebhookSecret);
        Assert.Equal("receiver.webhook_secret_env", secret.KeyPath);
        Assert.Equal("/etc/mlray/config.yml", secret.File);
        Assert.Contains("names MLRAY_TEST_UNSET_WEBHOOK_SECRET, which is not set", secret.Message);
        var token = Assert.Throws<ConfigException>(() => config.Pipeline.OpsToken);
        Assert.Equal("receiver.ops_token_file", token.KeyPath);
        Assert.Contains("'/nonexistent/ops-token' does not exist", token.Message);

        var set = new DictionaryEnvironment(new Dictionary<string, string> { ["MLFLOW_TRACKING_URI"] = "http://m:1", ["MLRAY_TEST_SECRET"] = "s3cret" });
        var late = ConfigLoader.Load("receiver: {webhook_secret_env: MLRAY_TEST_SECRET}\n" + Valid, set);
        Assert.Equal("s3cret", late.Pipeline.WebhookSecret);
        Assert.DoesNotContain("s3cret", late.Pipeline.ToString());
        Assert.DoesNotContain("s3cret", late.Pipeline.WebhookSecretSource!.ToString());
        Assert.Equal("s3cret", (late.Pipeline with { ResyncInterval = TimeSpan.FromMinutes(1) }).WebhookSecret);
        Assert.Null(ConfigLoader.Load(Valid, Env).Pipeline.WebhookSecret);
    }

    [Fact]
    public void Anchors_and_aliases_as_values_still_work()
    {
        var config = ConfigLoader.Load("""
            ray_clusters:
            - {name: a, python_version: '3.9', dashboard_address: 'http://ray:8265', env_vars: &common {A: '1'}}
            - {name: b, python_version: '3.12', dashboard_address: 'http://ray:8266', env_vars: *common}
            """, Env);
        Assert.Equal("1", config.Clusters[1].EnvVars["A"]);
    }

    [Fact]
    public void Allow_unsigned_is_off_unless_set()
    {
        Assert.False(ConfigLoader.Load(Valid, Env).Pipeline.AllowUnsignedWebhooks);
        Assert.True(ConfigLoader.Load("receiver: {allow_unsigned: true}\n" + Valid, Env).Pipeline.AllowUnsignedWebhooks);
    }

    [Theory]
    [MemberData(nameof(Broken))]
    public void Errors_name_the_key_path_and_the_problem(string yaml, string path, string problem)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml, Env));
        Assert.Equal(path, e.KeyPath);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void Tracking_uri_is_required_from_somewhere()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Valid, new DictionaryEnvironment(new Dictionary<string, string>())));
        Assert.Equal("ray_clusters[0].mlflow_tracking_uri", e.KeyPath);
    }

    [Fact]
    public void Credentials_come_from_the_environment_and_never_print()
    {
        var env = new DictionaryEnvironment(new Dictionary<string, string>
        {
            ["MLFLOW_TRACKING_URI"] = "http://m:1", ["MLFLOW_TRACKING_USERNAME"] = "u", ["MLFLOW_TRACKING_PASSWORD"] = "s3cret-pw",
            ["AWS_SECRET_ACCESS_KEY"] = "aws-s3cret", ["MLFLOW_S3_ENDPOINT_URL"] = "http://minio:9000",
        });
        var config = ConfigLoader.Load(Valid, env);
        Assert.Equal(("u", "s3cret-pw"), (config.Mlflow.Credentials.Username, config.Mlflow.Credentials.Password));
        Assert.DoesNotContain("s3cret", config.ToString());
        Assert.DoesNotContain("s3cret", config.Mlflow.ToString());
    }

    [Theory]
    [InlineData("90s", 90)]
    [InlineData("10m", 600)]
    [InlineData("1h", 3600)]
    [InlineData("1m30s", 90)]
    [InlineData("45", 45)]
    public void Durations_parse(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), ConfigLoader.ParseDuration(text));

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("10 minutes")]
    [InlineData("m")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1e300")]
    [InlineData("99999999999999999999h")]
    [InlineData("721h")]
    public void Bad_durations_are_refused(string text) => Assert.Null(ConfigLoader.ParseDuration(text));

    [Fact]
    public void Dot_env_files_parse_like_the_seed_template()
    {
        var values = DotEnvFile.Parse("# comment\nMLFLOW_TRACKING_URI=http://localhost:8080\nexport A=\"quoted value\"\nB='x' \nC=plain # trailing\n\nbad line\n").ToDictionary();
        Assert.Equal("http://localhost:8080", values["MLFLOW_TRACKING_URI"]);
        Assert.Equal("quoted value", values["A"]);
        Assert.Equal("x", values["B"]);
        Assert.Equal("plain", values["C"]);
        Assert.Equal(4, values.Count);
    }
}

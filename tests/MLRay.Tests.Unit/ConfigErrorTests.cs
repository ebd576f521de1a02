namespace MLRay.Tests.Unit;

/// <summary>
/// What a person reads for a broken config.yml: the exact <c>config error:</c> lines (as the CLI and both hosts print
/// them), every problem of one run in file order, and YAML syntax errors at the right line and column with their likely cause.
/// </summary>
public class ConfigErrorTests
{
    private static readonly DictionaryEnvironment Env = new(new Dictionary<string, string> { ["MLFLOW_TRACKING_URI"] = "http://m:1" });

    private const string Cluster = "ray_clusters:\n- name: a\n  python_version: '3.9'\n  dashboard_address: http://r:1\n";

    private static string[] Lines(string yaml) =>
        [.. Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml, Env)).Lines()];

    public static TheoryData<string, string, string[]> Broken => new()
    {
        {
            "a tab indents line 2 (the parser says line 1, column 1)",
            "mlflow:\n\ttracking_uri: http://m:1\n" + Cluster,
            ["config error: config.yml:2:1: a tab character indents this line; YAML allows only spaces"]
        },
        {
            "a tab after two spaces, under a key that has a value",
            "mlflow:\n  alias: x\n  \ttracking_uri: http://m:1\n" + Cluster,
            ["config error: config.yml:3:3: a tab character indents this line; YAML allows only spaces"]
        },
        {
            "a tab in a cluster's nested mapping, three lines below where the parser points",
            "ray_clusters:\n- name: a\n  env_vars:\n  \tA: '1'\n",
            ["config error: config.yml:4:3: a tab character indents this line; YAML allows only spaces"]
        },
        {
            "a cluster key indented deeper than its siblings",
            "ray_clusters:\n- name: a\n  python_version: '3.9'\n    dashboard_address: http://r:1\n",
            ["config error: config.yml:4:5: while parsing a block mapping, did not find expected key (likely cause: this line's indentation does not match the lines above it)"]
        },
        {
            "a key indented less than its siblings",
            "mlflow:\n  tracking_uri: http://m:1\n alias: x\n" + Cluster,
            ["config error: config.yml:3:2: while parsing a block mapping, did not find expected key (likely cause: this line's indentation does not match the lines above it)"]
        },
        {
            "a key without its colon",
            "mlflow:\n  tracking_uri: http://m:1\n  alias\n" + Cluster,
            ["config error: config.yml:3:3: while parsing a block mapping, did not find expected key (likely cause: the key on this line lacks its ':')"]
        },
        {
            "a key indented deeper under a key that has a value",
            "mlflow:\n  tracking_uri: http://m:1\n    alias: x\n" + Cluster,
            ["config error: config.yml:3:10: while scanning a plain scalar value, found invalid mapping (likely cause: this line is indented deeper than the key above it)"]
        },
        {
            "the line above lacks its colon",
            "mlflow:\n  tracking_uri http://m:1\n  alias: x\n" + Cluster,
            ["config error: config.yml:3:8: while scanning a multiline plain scalar, found invalid mapping (likely cause: the line above lacks its ':', so this line continues its value)"]
        },
        {
            "an unquoted ': ' in a value",
            "ray_clusters:\n- name: a: b\n",
            ["config error: config.yml:2:10: while scanning a plain scalar value, found invalid mapping (likely cause: a value on this line holds ': ', which YAML reads as another key: quote the value)"]
        },
        {
            "a cluster key back at the list's indentation",
            "ray_clusters:\n  - name: a\n    python_version: '3.9'\n  dashboard_address: http://r:1\n",
            ["config error: config.yml:4:3: while parsing a block collection, did not find expected '-' indicator (likely cause: this line's indentation does not match the list items above it)"]
        },
        {
            "an unclosed '['",
            Cluster + "  extra_pip: [pyarrow==19.0.1\n  deploy_timeout: 10m\n",
            ["config error: config.yml:5:14: the '[' that starts here is never closed"]
        },
        {
            "two unknown keys in two sections, and one more in the first",
            "mlflow:\n  tracking_uri: http://m:1\n  aliass: x\n  suffix: .prod\nretry:\n  tries: 2\n" + Cluster,
            [
                "config error: config.yml:3:3: mlflow.aliass: unknown key (known here: tracking_uri, model_name_suffix, alias, challenger_alias)",
                "config error: config.yml:4:3: mlflow.suffix: unknown key (known here: tracking_uri, model_name_suffix, alias, challenger_alias)",
                "config error: config.yml:6:3: retry.tries: unknown key (known here: attempts, delays)",
            ]
        },
        {
            "bad values in two clusters, two in the second",
            """
            ray_clusters:
            - name: a
              python_version: three
              dashboard_address: http://r:1
            - name: b
              python_version: '3.12'
              dashboard_address: r:2
              deploy_timeout: forever
            """,
            [
                "config error: config.yml:3:3: ray_clusters[0].python_version: 'three' is not a Python version: write it quoted as '3.9' (any 3.9.x) or '3.9.22' (exact)",
                "config error: config.yml:7:3: ray_clusters[1].dashboard_address: 'r:2' is not an http(s) URL",
                "config error: config.yml:8:3: ray_clusters[1].deploy_timeout: 'forever' is not a duration of at most 30 days (examples: 90s, 10m, 1h, or plain seconds)",
            ]
        },
        {
            "problems in every section, reported in file order whatever order they are read in",
            """
            receiver: {allow_unsigned: maybe}
            ray_clusters:
            - {name: a, python_version: '3.9', dashboard_address: 'http://r:1', extra_pip: ['==1', ok, '==2']}
            - {name: 'b c', python_version: '3.9', dashboard_address: 'http://r:1', kuberay: {workers: {replicas: x, cpu: lots}}}
            retry: {attempts: 0}
            package_index: {max_concurrency: 100}
            mlflow: {alias: 'a b'}
            """,
            [
                "config error: config.yml:1:12: receiver.allow_unsigned: 'maybe' is not true or false",
                "config error: config.yml:3:81: ray_clusters[0].extra_pip[0]: '==1' is not a pip requirement",
                "config error: config.yml:3:92: ray_clusters[0].extra_pip[2]: '==2' is not a pip requirement",
                "config error: config.yml:4:4: ray_clusters[1].name: 'b c' is not a valid cluster name (letters, digits, '.', '_' and '-')",
                "config error: config.yml:4:93: ray_clusters[1].kuberay.workers.replicas: 'x' is not a whole number ≥ 0",
                "config error: config.yml:4:106: ray_clusters[1].kuberay.workers.cpu: 'lots' is not a Kubernetes CPU quantity (examples: 2, 0.5, 500m)",
                "config error: config.yml:5:9: retry.attempts: '0' is not a whole number from 1 to 100",
                "config error: config.yml:6:17: package_index.max_concurrency: '100' is not a whole number from 1 to 64",
                "config error: config.yml:7:10: mlflow.alias: 'a b' is not a valid MLflow alias (letters, digits, '_' and '-')",
            ]
        },
        {
            "a missing key is placed at the mapping that lacks it",
            "ray_clusters:\n- name: a\n  python_version: '3.9'\n",
            ["config error: config.yml:2:3: ray_clusters[0].dashboard_address: required but missing"]
        },
        {
            "a problem outside the file has no position and comes last",
            "rabbitmq: {uri: 'http://x'}\nmlflow: {tracking_uri: 'ftp://m'}\n" + Cluster,
            [
                "config error: config.yml:1:12: rabbitmq.uri: not an amqp:// or amqps:// URI",
                "config error: config.yml:2:10: mlflow.tracking_uri: 'ftp://m' is not an http(s) URL",
            ]
        },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void Every_problem_is_one_line_with_file_line_column_key_and_problem(string what, string yaml, string[] expected)
    {
        Assert.True(expected.SequenceEqual(Lines(yaml)), $"{what}:\n  expected:\n    {string.Join("\n    ", expected)}\n  got:\n    {string.Join("\n    ", Lines(yaml))}");
    }

    [Fact]
    public void Lines_leave_out_what_is_unknown_and_the_exception_can_name_the_file_for_them()
    {
        var noFile = new ConfigException("--no-secret", "cannot be combined with --secret-env");
        Assert.Equal(["config error: --no-secret: cannot be combined with --secret-env"], noFile.Lines());
        Assert.Equal(["config error: /etc/mlray/config.yml: receiver: no webhook secret"], new ConfigException("receiver", "no webhook secret").Lines("/etc/mlray/config.yml"));
        Assert.Equal(["config error: config file 'x.yml' does not exist"], Assert.Throws<ConfigException>(() => ConfigLoader.LoadFile("x.yml", Env)).Lines());
        var two = new ConfigException([new ConfigProblem("a.b", "bad", 3, 4), new ConfigProblem("", "worse")], "c.yml");
        Assert.Equal(["config error: c.yml:3:4: a.b: bad", "config error: c.yml: worse"], two.Lines("ignored.yml"));
        Assert.Equal("c.yml:3:4: a.b: bad\nc.yml: worse", two.Message);
        Assert.Equal(("a.b", "bad"), (two.KeyPath, two.Problem));
    }

    [Fact]
    public void A_tab_inside_a_block_scalar_or_after_a_colon_is_no_problem()
    {
        var config = ConfigLoader.Load("mlflow:\n  alias:\tchampion\n" + Cluster + "  env_vars:\n    NOTE: |\n      one\n      \ttwo\n", Env);
        Assert.Equal("champion", config.Mlflow.Alias);
        Assert.Equal("one\n\ttwo\n", config.Clusters[0].EnvVars["NOTE"]);
    }

    [Fact]
    public void Another_yaml_file_gets_the_tab_at_its_own_line_too()
    {
        var e = Assert.Throws<MLRay.Yaml.YamlTextException>(() => MLRay.Yaml.YamlText.Parse("python: '3.9'\nbuild_dependencies:\n\t- pip\n", "python_env.yaml"));
        Assert.Equal("line 3, column 1: a tab character indents this line; YAML allows only spaces", e.Where);
    }
}

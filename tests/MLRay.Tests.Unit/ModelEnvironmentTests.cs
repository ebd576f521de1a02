namespace MLRay.Tests.Unit;

public class ModelEnvironmentTests
{
    private const string PythonEnv = "python: 3.9.22\nbuild_dependencies:\n- pip==25.0.1\ndependencies:\n- -r requirements.txt\n";
    private const string Conda = "channels:\n- conda-forge\ndependencies:\n- python=3.9.22\n- pip<=25.0.1\n- pip:\n  - mlflow==2.22.0\n  - catboost==1.1.1\nname: mlflow-env\n";
    private const string MLmodel = "flavors:\n  python_function:\n    loader_module: mlflow.catboost\n    python_version: 3.12.11\n";

    public static TheoryData<string?, string?, string?, string, string> Sources => new()
    {
        { PythonEnv, Conda, MLmodel, "3.9.22", "python_env.yaml" },
        { null, Conda, MLmodel, "3.9.22", "conda.yaml" },
        { null, null, MLmodel, "3.12.11", "MLmodel" },
        { "python: '3.10'\n", null, null, "3.10", "python_env.yaml" },
        { "python: 3.10\n", null, null, "3.10", "python_env.yaml" },
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public void Python_version_comes_from_the_first_file_that_has_it(string? pythonEnv, string? conda, string? mlmodel, string version, string source)
    {
        var env = ModelEnvironmentReader.Read(new ModelEnvironmentFiles(pythonEnv, conda, mlmodel, "catboost==1.2.8\n"));
        Assert.Equal(version, env.Python.ToString());
        Assert.Equal(source, env.PythonSource);
    }

    [Fact]
    public void Pip_list_falls_back_to_the_conda_pip_section()
    {
        var env = ModelEnvironmentReader.Read(new ModelEnvironmentFiles(null, Conda, null, null));
        Assert.Equal(["mlflow==2.22.0", "catboost==1.1.1"], env.Pip);
    }

    public static TheoryData<string?, string?, string?, string, string> Broken => new()
    {
        { "python: [3, 9\n", null, null, "python_env.yaml", "not valid YAML" },
        { "build_dependencies: []\n", null, null, "python_env.yaml", "no 'python:'" },
        { "python: three\n", null, null, "python_env.yaml", "not a Python version" },
        { null, "dependencies:\n- pip\n", null, "conda.yaml", "python=X.Y.Z" },
        { null, null, "flavors: {}\n", "MLmodel", "python_version" },
        { null, null, null, "python_env.yaml", "not found" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void Unusable_files_are_named(string? pythonEnv, string? conda, string? mlmodel, string file, string problem)
    {
        var e = Assert.Throws<ModelEnvironmentException>(() => ModelEnvironmentReader.Read(new ModelEnvironmentFiles(pythonEnv, conda, mlmodel, null)));
        Assert.Equal(file, e.File);
        Assert.Contains(problem, e.Message);
    }

    public static TheoryData<string, string, bool> Matching => new()
    {
        { "3.9", "3.9.22", true },
        { "3.9", "3.9.1", true },
        { "3.9", "3.12.11", false },
        { "3.9.22", "3.9.22", true },
        { "3.9.22", "3.9.21", false },
        { "3.12", "3.1.2", false },
        { "3.1", "3.12.0", false },
    };

    [Theory]
    [MemberData(nameof(Matching))]
    public void Cluster_python_matches_major_minor_or_exactly(string cluster, string model, bool accepted) =>
        Assert.Equal(accepted, PythonVersionSpec.Parse(cluster).Accepts(PythonVersionSpec.Parse(model)));

    [Fact]
    public void Requirements_keep_order_and_drop_comments_blanks_and_options()
    {
        var pins = RequirementsFile.Parse("mlflow==3.1.0\n# comment\n\ncatboost==1.1  # pinned\n-c constraints.txt\n--index-url x\nnumpy==1.26.4\r\ncatboost==1.1\n");
        Assert.Equal(["mlflow==3.1.0", "catboost==1.1", "numpy==1.26.4"], pins);
    }

    public static TheoryData<string, string?> PackageNames => new()
    {
        { "Foo_Bar==1.0", "foo-bar" },
        { "pyarrow==19.0.1", "pyarrow" },
        { "requests[socks]>=2", "requests" },
        { "numpy", "numpy" },
        { "==1.0", null },
    };

    [Theory]
    [MemberData(nameof(PackageNames))]
    public void Package_names_are_normalised(string requirement, string? name) =>
        Assert.Equal(name, RequirementsFile.PackageName(requirement));

    [Fact]
    public void Extra_pins_are_added_only_for_packages_the_model_does_not_name()
    {
        Assert.Equal(["numpy==2.0.2", "pyarrow==19.0.1"], RequirementsFile.WithExtraPins(["numpy==2.0.2"], ["pyarrow==19.0.1"]));
        Assert.Equal(["PyArrow==18.0.0"], RequirementsFile.WithExtraPins(["PyArrow==18.0.0"], ["pyarrow==19.0.1"]));
    }
}

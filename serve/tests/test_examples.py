"""examples/: the training script compiles and sets exactly the seed's tags the README documents, the notebook runs
the script's steps, and every request in examples/*.request.http is a body MLRay's apps answer."""
import asyncio
import ast
import importlib.util
import json
import py_compile
import re
from pathlib import Path

import pytest

from mlray_serve.server import ModelServer
from standins import IrisStandIn

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPT = EXAMPLES / "train_catboost_model.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_catboost_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports mlflow / catboost only inside its functions
    return module


def readme_tag_table():
    """Rows of the README's tag table: tag → its 'required' column."""
    section = (ROOT / "README.md").read_text().split("## Tags", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(ray\.[^`]+)`(?: / `[^`]+`)* \| ([^|]+) \|", section, re.MULTILINE)
    assert rows, "no tag table under '## Tags' in README.md"
    return {tag: required.strip() for tag, required in rows}


def test_the_training_script_compiles():
    py_compile.compile(str(SCRIPT), doraise=True)


def test_the_script_sets_every_required_readme_tag_and_only_documented_ones():
    tags = load_script().ray_tags("iris_classifier-py39-catboost12")
    table = readme_tag_table()
    required = {tag for tag, column in table.items() if column.startswith("yes")}
    assert required == {"ray.name", "ray.num_replicas", "ray.ray_actor_options.num_cpus", "ray.ray_actor_options.memory"}
    assert required <= set(tags)
    assert set(tags) <= set(table)
    # The seed's five: the required ones and the replicas' environment variables.
    assert set(tags) - required == {"ray.ray_actor_options.runtime_env.env_vars"}


def test_the_tag_values_are_what_mlray_accepts():
    tags = load_script().ray_tags("iris_classifier-py312-catboost12", num_replicas=2, num_cpus=0.5, memory_gib=1)
    assert tags["ray.name"] == "iris_classifier-py312-catboost12"
    assert (tags["ray.num_replicas"], tags["ray.ray_actor_options.num_cpus"], tags["ray.ray_actor_options.memory"]) == ("2", "0.5", "1")
    env_vars = json.loads(tags["ray.ray_actor_options.runtime_env.env_vars"])
    assert isinstance(env_vars, dict) and all(isinstance(v, str) for v in env_vars.values())


def test_the_script_registers_under_the_configured_suffix():
    assert load_script().MODEL_NAME_SUFFIX == ".staging"
    config = (ROOT / "config.example.yml").read_text()
    assert "model_name_suffix: .staging" in config


def test_the_notebook_runs_the_scripts_steps():
    notebook = json.loads((EXAMPLES / "train_catboost_model.ipynb").read_text())
    script = load_script()
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    for source in code:
        ast.parse(source)
    imported = re.search(r"from train_catboost_model import (.+)", code[0]).group(1)
    for name in (n.strip() for n in imported.split(",")):
        assert callable(getattr(script, name)), name
    assert any("log_and_register(" in source for source in code)


def request_bodies(path):
    """(url, JSON body) of every request in a .http file (requests are separated by ### lines)."""
    for block in re.split(r"^###.*$", path.read_text(), flags=re.MULTILINE):
        lines = [line for line in block.strip().splitlines() if not line.startswith("#")]
        if not lines:
            continue
        url = lines[0].split()[1]
        body = "\n".join(lines).split("\n\n", 1)[1]
        yield url, json.loads(body)


REQUEST_FILES = sorted(EXAMPLES.glob("iris_classifier-*.request.http"))


@pytest.mark.parametrize("path", REQUEST_FILES, ids=lambda p: p.name)
def test_every_example_request_is_answered_in_its_format(path):
    server = ModelServer(IrisStandIn)
    server.load()
    answers = []
    for url, body in request_bodies(path):
        assert url.endswith("/" + path.name.split(".request")[0])
        response = asyncio.run(server.handle(json.dumps(body).encode(), "application/json"))
        assert response.status == 200, response.body
        answers.append((next(iter(body)), response.body))
    assert [key for key, _ in answers] == ["data", "dataframe_split"]
    seed, mlflow = answers[0][1], answers[1][1]
    assert isinstance(seed, list) and len(seed) == 5          # the seed's bare list
    assert mlflow == {"predictions": seed}                    # the same rows, MLflow's shape


class RecordingMlflow:
    """Stand-ins for the mlflow modules log_and_register imports, recording the order of registry calls."""

    def __init__(self, existing=False):
        import types

        self.calls, self.model_tags, self.existing = [], {}, existing
        recorder = self

        class MlflowException(Exception):
            def __init__(self, message, error_code):
                super().__init__(message)
                self.error_code = error_code

        class Client:
            def create_registered_model(self, name, tags=None):
                recorder.calls.append(("create_registered_model", name))
                if recorder.existing:
                    raise MlflowException(f"Registered Model (name={name}) already exists.", "RESOURCE_ALREADY_EXISTS")
                recorder.model_tags.update(tags or {})

            def set_registered_model_tag(self, name, key, value):
                recorder.calls.append(("set_registered_model_tag", key))
                recorder.model_tags[key] = value

        class Run:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        def log_model(model, **kwargs):
            # MLflow registers the version (and sends its webhook) here: the tags must already be on the model.
            recorder.calls.append(("log_model", kwargs.get("registered_model_name"), dict(recorder.model_tags)))
            return types.SimpleNamespace(registered_model_version="1")

        self.modules = {
            "mlflow": types.SimpleNamespace(set_experiment=lambda name: None, start_run=lambda run_name=None: Run(),
                                            log_params=lambda p: None, log_metric=lambda k, v: None,
                                            catboost=types.SimpleNamespace(log_model=log_model)),
            "mlflow.models": types.SimpleNamespace(infer_signature=lambda x, y: None),
            "mlflow.tracking": types.SimpleNamespace(MlflowClient=Client),
            "mlflow.exceptions": types.SimpleNamespace(MlflowException=MlflowException),
        }


class Predicting:
    def predict(self, x):
        return x


class Frame:
    def head(self, n):
        return self


@pytest.mark.parametrize("existing", [False, True], ids=["new registered model", "existing registered model"])
def test_the_script_tags_the_registered_model_before_it_registers_the_version(monkeypatch, existing):
    mlflow = RecordingMlflow(existing)
    for name, module in mlflow.modules.items():
        monkeypatch.setitem(__import__("sys").modules, name, module)
    script = load_script()
    tags = script.ray_tags("iris_classifier-py39-catboost12")
    name, version = script.log_and_register(Predicting(), Frame(), 0.9, "iris_classifier-py39-catboost12", None, tags)
    assert (name, version) == ("iris_classifier-py39-catboost12.staging", "1")
    log_model = [c for c in mlflow.calls if c[0] == "log_model"]
    assert len(log_model) == 1 and mlflow.calls[-1] is log_model[0], mlflow.calls
    assert log_model[0][1] == name
    assert log_model[0][2] == tags   # every ray.* tag was on the registered model when its version was created

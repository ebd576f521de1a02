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

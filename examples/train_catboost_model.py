"""Train the seed's iris classifier with CatBoost, create the registered model `<name>.staging` with the `ray.*` tags
MLRay reads, then log the model to MLflow with its environment as a new version of it.

Run it in a virtualenv of exactly the Python of the Ray cluster that is to serve the model (3.9.22 or 3.12.11: Ray and
MLRay match the model's python_env.yaml against the cluster), after installing that model's requirements:

    pyenv shell 3.9.22 && python -m venv .venv.py39 && source .venv.py39/bin/activate
    pip install -r examples/requirements.iris_classifier-py39-catboost12.txt
    export MLFLOW_TRACKING_URI=http://localhost:8080          # or copy .env.template to .env and source it
    python examples/train_catboost_model.py iris_classifier-py39-catboost12 \
        --requirements examples/requirements.iris_classifier-py39-catboost12.txt

MLflow writes python_env.yaml (this interpreter's version) and requirements.txt (the --requirements file, else what it
infers from the imports) next to the model; MLRay turns them into the Ray app's runtime_env. train_catboost_model.ipynb
runs the same steps cell by cell.
"""
import argparse
import json
import platform
import sys

# Registered models whose name ends with this are deployed (config: mlflow.model_name_suffix).
MODEL_NAME_SUFFIX = ".staging"


def ray_tags(app_name, num_replicas=1, num_cpus=0.5, memory_gib=1, env_vars=None):
    """The seed's five tags: the four the README's tag table requires, plus the app's environment variables."""
    return {
        "ray.name": app_name,
        "ray.num_replicas": str(num_replicas),
        "ray.ray_actor_options.num_cpus": str(num_cpus),
        "ray.ray_actor_options.memory": str(memory_gib),  # GiB per replica; MLRay sends Ray bytes
        # CatBoost would start a thread per core of the node; the replica reserves only num_cpus of them.
        "ray.ray_actor_options.runtime_env.env_vars": json.dumps(env_vars if env_vars is not None else {"OMP_NUM_THREADS": "1"}),
    }


def default_app_name():
    import catboost

    major, minor = catboost.__version__.split(".")[:2]
    return f"iris_classifier-py{sys.version_info.major}{sys.version_info.minor}-catboost{major}{minor}"


def train(random_state=42):
    """The iris classifier, with its held-out features and accuracy (column names as in examples/*.request.http)."""
    from catboost import CatBoostClassifier
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    features, target = load_iris(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(features, target, test_size=0.2, random_state=random_state, stratify=target)
    model = CatBoostClassifier(iterations=200, depth=4, loss_function="MultiClass", random_seed=random_state, verbose=False)
    model.fit(x_train, y_train)
    accuracy = float((model.predict(x_test).ravel() == y_test.to_numpy()).mean())
    return model, x_test, accuracy


def tag_registered_model(client, registered_name, tags):
    """Creates the registered model with its ray.* tags, or sets them on the existing one.

    Before the version, on purpose: registering a version sends MLflow's webhook at once, while setting tags on a
    registered model sends none. A version whose model has no ray.* tags yet is only PENDING in MLRay (picked up at the
    next resync), so this order deploys at the version's own webhook instead.
    """
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(registered_name, tags=tags)
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        for key, value in tags.items():
            client.set_registered_model_tag(registered_name, key, value)


def log_and_register(model, x_test, accuracy, app_name, requirements=None, tags=None):
    """Tags the registered model <app_name>.staging, then logs the model with its environment as a new version of it."""
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    registered_name = app_name + MODEL_NAME_SUFFIX
    tag_registered_model(MlflowClient(), registered_name, tags or ray_tags(app_name))
    mlflow.set_experiment("mlray-iris")
    with mlflow.start_run(run_name=app_name):
        mlflow.log_params({"python": platform.python_version(), "loss_function": "MultiClass"})
        mlflow.log_metric("accuracy", accuracy)
        info = mlflow.catboost.log_model(
            model,
            name="model",
            signature=infer_signature(x_test, model.predict(x_test)),
            input_example=x_test.head(3),
            pip_requirements=requirements,  # None: MLflow infers them (and writes requirements.txt either way)
            registered_model_name=registered_name,  # the version's webhook: MLRay finds the tags already there
        )
    return registered_name, info.registered_model_version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="app name (ray.name); default iris_classifier-py<XY>-catboost<XY> of this environment")
    parser.add_argument("--requirements", help="pip requirements file to log with the model (default: inferred by MLflow)")
    parser.add_argument("--num-replicas", type=int, default=1)
    parser.add_argument("--num-cpus", type=float, default=0.5)
    parser.add_argument("--memory-gib", type=float, default=1)
    args = parser.parse_args(argv)

    app_name = args.name or default_app_name()
    model, x_test, accuracy = train()
    tags = ray_tags(app_name, args.num_replicas, args.num_cpus, args.memory_gib)
    registered_name, version = log_and_register(model, x_test, accuracy, app_name, args.requirements, tags)
    print(f"registered {registered_name} version {version} (Python {platform.python_version()}, accuracy {accuracy:.3f})")
    print(f"MLRay serves it at /{app_name} on the cluster running Python {platform.python_version()}")


if __name__ == "__main__":
    main()

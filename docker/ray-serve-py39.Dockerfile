# Ray head/worker image for the Python 3.9 cluster (ray-cluster-py39): Ray Serve, MLflow and MLRay's serving
# builder (mlray_serve) on exactly CPython 3.9.22. Build from the repository root:
#   docker build -f docker/ray-serve-py39.Dockerfile -t ray-serve-py39 .      (podman build works the same)
# Ray refuses nodes (and jobs) whose Python differs from the cluster's down to the patch number, and a model must
# run on the Python it was trained with: models logged from a 3.9.22 virtualenv are served here.
# CPU architecture: python:*-slim and Ray's wheels exist for x86_64 and aarch64, so this builds natively on ARM
# (Apple Silicon, Graviton), but a model's own pins must have aarch64 wheels too: catboost 1.1 has none, so the
# seed's iris_classifier-py39-catboost11 fails on an ARM cluster with pip's "No matching distribution found".
# Build with --platform linux/amd64 (emulated, slow) to serve it from an ARM machine.
FROM python:3.9.22-slim-bookworm

# One Ray version in every image (ray-serve-py39 and ray-serve-py312 alike): 2.47.1, the seed's, publishes cp39 and
# cp312 wheels; Ray >= 2.52 has no Python 3.9 wheels (so token auth, Ray >= 2.52, is not available on a 3.9 cluster).
ARG RAY_VERSION=2.47.1
ARG MLFLOW_VERSION=3.1.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# The interpreter is the cluster's identity: fail the build if the base image ever moves off 3.9.22.
RUN test "$(python -c 'import platform; print(platform.python_version())')" = "3.9.22"

COPY serve/ /opt/mlray-serve/
# mlflow and boto3 let replicas load models:/ URIs from the tracking server and MinIO/S3; pyarrow is pinned against
# numpy 2 (ray issue #48559), as the seed did.
RUN pip install "ray[serve]==${RAY_VERSION}" "mlflow==${MLFLOW_VERSION}" "boto3>=1.34,<2" "pyarrow==19.0.1" /opt/mlray-serve \
 && python -c "import ray, mlflow, mlray_serve.server; assert ray.__version__ == '${RAY_VERSION}', ray.__version__"

WORKDIR /home/ray
# GCS, dashboard (Serve REST API), Ray client, Serve HTTP proxy.
EXPOSE 6379 8265 10001 8000
CMD ["bash", "-c", "ray start --head --port=6379 --dashboard-host=0.0.0.0 --block"]

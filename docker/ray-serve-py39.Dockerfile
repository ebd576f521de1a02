# Ray head/worker image for the Python 3.9 cluster: Ray Serve plus MLRay's serving builder (mlray_serve).
# Every node of one cluster must run the same Ray and Python (to the patch level by default).
FROM rayproject/ray:2.47.1-py39
COPY serve/ /opt/mlray-serve/
# mlflow and boto3 let replicas load models:/ URIs from the tracking server and S3/MinIO;
# pyarrow is pinned against numpy 2 (ray issue #48559), as the seed did.
RUN pip install --no-cache-dir /opt/mlray-serve "mlflow-skinny" boto3 "pyarrow==19.0.1"
EXPOSE 8265 6379 10001 8000

# syntax=docker/dockerfile:1
# Triton image for the cluster: NVIDIA's release image plus onnxruntime, which
# our Python-backend models (medinfer/triton/python_backend) import. Build from
# the repository root:
#   docker build -f deploy/triton.Dockerfile -t medinfer/tritonserver:24.10-medinfer.1 .
# 24.10 ships Triton 2.51, the same server the nvidia-pytriton wheel runs locally,
# on Ubuntu 22.04 with Python 3.10 (hence deploy/triton/requirements.txt).
# Stage 1 builds wheels; stage 2 installs them offline and runs as uid 10001.
FROM nvcr.io/nvidia/tritonserver:24.10-py3 AS wheels
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY deploy/triton/requirements.txt /tmp/requirements.txt
RUN python3 -m pip wheel --no-cache-dir --wheel-dir /wheels -r /tmp/requirements.txt

FROM nvcr.io/nvidia/tritonserver:24.10-py3
LABEL org.opencontainers.image.title="medinfer-tritonserver" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=wheels /wheels /wheels
COPY deploy/triton/requirements.txt /tmp/requirements.txt
RUN python3 -m pip install --no-cache-dir --no-index --find-links /wheels -r /tmp/requirements.txt \
 && rm -rf /wheels /tmp/requirements.txt \
 && groupadd --system --gid 10001 medinfer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/medinfer --create-home medinfer \
 && mkdir -p /models && chown 10001:10001 /models
USER 10001:10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2)"]
ENTRYPOINT ["tritonserver"]
CMD ["--model-repository=/models", "--model-control-mode=explicit", "--load-model=*", \
     "--strict-readiness=true", "--exit-on-error=false"]

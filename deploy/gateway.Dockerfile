# syntax=docker/dockerfile:1
# Gateway image: build from the repository root:
#   docker build -f deploy/gateway.Dockerfile -t medinfer/gateway:0.1.0 .
# Stage 1 builds a virtualenv from the pinned requirements; stage 2 copies only
# that venv and the package, and runs as an unprivileged user (uid 10001).
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt pyproject.toml ./
# The tritonserver wheel (nvidia-pytriton) runs Triton locally; in the cluster Triton has its own image.
RUN python -m venv /opt/venv \
 && grep -v '^nvidia-pytriton==' requirements.txt > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
COPY medinfer ./medinfer
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="medinfer-gateway" \
      org.opencontainers.image.source="https://github.com/medinfer/medinfer" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 medinfer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/medinfer --create-home medinfer
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MEDINFER_HOME=/var/lib/medinfer
USER 10001:10001
WORKDIR /var/lib/medinfer
EXPOSE 8443 8444 8445
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import ssl,urllib.request as u; u.urlopen('https://127.0.0.1:8443/healthz', timeout=2, context=ssl._create_unverified_context())"]
ENTRYPOINT ["python", "-m", "medinfer.gateway"]

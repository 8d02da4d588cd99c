# syntax=docker/dockerfile:1
# The idlcm operator image: `make image` (or `docker build -t idlcm:dev .`). Two stages: the first builds
# idlcm and its dependencies into a virtualenv, the second copies only that virtualenv onto a clean slim
# Python: no pip cache, no compiler, no sources beyond the installed package.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The metadata first, so a code-only change reuses the dependency layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt
COPY crds/ crds/
COPY operator/ operator/
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib \
    && idlcm --version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="idlcm" \
      org.opencontainers.image.description="Kubernetes operator for identity lifecycle management integrations" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric non-root user, so that runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 65532 idlcm \
    && useradd --system --uid 65532 --gid idlcm --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin idlcm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
# kopf's liveness endpoint, and the metrics endpoint.
EXPOSE 8080 9090
ENTRYPOINT ["idlcm"]
CMD ["run", "--liveness=http://0.0.0.0:8080/healthz"]

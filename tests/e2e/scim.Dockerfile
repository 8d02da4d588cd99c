# The SCIM test app of the e2e suite (tests/scimapp.py, served by tests/e2e/scim_server.py). Built by
# tests/e2e/run.sh from the repository root: docker build -f tests/e2e/scim.Dockerfile -t idlcm-scim:e2e .
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
FROM ${PYTHON_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The versions the test suite runs with (pyproject.toml test extra); pytest because scimapp.py also defines fixtures.
RUN pip install "scim2-server==0.8.3" "scim2-models==0.12.3" "uvicorn==0.54.0" "pytest==9.2.0"
WORKDIR /app
COPY tests/scimapp.py tests/e2e/scim_server.py ./
USER 65532:65532
EXPOSE 8000
CMD ["python", "scim_server.py", "--port", "8000"]

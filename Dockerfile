# syntax=docker/dockerfile:1
# Platform Orchestrator operator image.
#
#   docker build -t platform-orchestrator:dev .                             # the operator (`orchestrator run`)
#   docker build --target fake-jira -t platform-orchestrator-fake-jira:dev .  # the demo fake JIRA (hack/kind-up.sh)
#
# Runs as UID 65532 with a read-only root filesystem. Writable paths must be volumes (the Helm chart mounts emptyDirs):
#   /tmp                             HOME, TMPDIR, XDG_CACHE_HOME (git, Terraform and Python scratch files)
#   /var/cache/orchestrator          catalog.cacheDir: git clones of CatalogSources with spec.git
#   /var/lib/orchestrator/terraform  terraform.workDir: per-request Terraform working directories
#   /git                             the git-sync sidecar's checkout (read by the operator)
# The install steps live in hack/image-install.sh (tests/image/ runs the same script into a clean virtualenv).

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY hack/image-install.sh hack/
# Same path as in the final stage: the virtualenv's scripts and the parser cache name their absolute location.
RUN hack/image-install.sh /src /opt/venv


# The fake JIRA from tests/fakes (standard library only), for the kind demo; not part of the operator image.
FROM python:3.11-slim-bookworm AS fake-jira
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY tests/__init__.py tests/
COPY tests/fakes/ tests/fakes/
USER 65532:65532
EXPOSE 8080
# Users and behaviour come from the Pod's args (hack/kind-up.sh), e.g. --port 8080 --user LOGIN:TOKEN.
ENTRYPOINT ["python", "-m", "tests.fakes.jira_server"]


FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="platform-orchestrator" \
      org.opencontainers.image.description="Kubernetes operator that turns a self-service catalog into fulfilled infrastructure" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/platform-orchestrator/platform-orchestrator" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# git: catalog sync clones with GitPython (which drives the git binary); openssh-client: ssh:// catalog repositories.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.* openssh-client=1:9.2p1-* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 orchestrator \
    && useradd --system --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin orchestrator \
    && mkdir -p /var/cache/orchestrator /var/lib/orchestrator/terraform \
    && chown -R 65532:65532 /var/cache/orchestrator /var/lib/orchestrator

COPY --from=builder /opt/venv /opt/venv

# No ORCHESTRATOR_* variables here: they would override the settings file the chart mounts (config.py's order).
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    CHECKPOINT_DISABLE=1 \
    GIT_TERMINAL_PROMPT=0

USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["orchestrator"]
CMD ["run"]

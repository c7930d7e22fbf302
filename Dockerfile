# Guichet image: builder stage installs the app into a venv, runtime stage
# only gets the venv, the runtime libs (WeasyPrint) and the data dirs.
# Both stages must use the same base: the venv links to its interpreter.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Compilers for any dependency without a wheel; never reach the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY . .
# Non-editable install: packages `guichet` and `workers` + the `guichet` script.
RUN pip install --upgrade pip setuptools wheel \
    && pip install .


FROM ${PYTHON_IMAGE} AS runtime

# Shared libraries WeasyPrint loads at run time, plus a default font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 guichet \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin guichet

COPY --from=builder /opt/venv /opt/venv

# Data dirs resolved from GUICHET_ROOT; owned by root so they stay read-only for the app.
WORKDIR /app
COPY alembic.ini ./alembic.ini
COPY migrations ./migrations
COPY themes ./themes
COPY tenants ./tenants

# XDG_CACHE_HOME: fontconfig/WeasyPrint caches go to /tmp (root FS is read-only in k8s).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XDG_CACHE_HOME=/tmp/.cache \
    GUICHET_ROOT=/app \
    GUICHET_MODE=production

# Numeric so that Kubernetes runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8000

# No HEALTHCHECK: Kubernetes probes hit /healthz and /readyz.
CMD ["guichet", "web", "--host", "0.0.0.0", "--port", "8000"]

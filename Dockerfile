# syntax=docker/dockerfile:1
# chatserver image: multi-stage, non-root, dependencies installed from requirements.lock.
# Base images are pinned by exact tag (bump them deliberately, then rebuild and test).

# 1. The browser libraries the widget serves from our own origin (static/vendor/, not in git).
FROM node:20.19.5-bookworm-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor.sh ./scripts/
RUN scripts/vendor.sh --omit-dev

# 2. A virtualenv with exactly the locked, hash-checked dependencies and the package.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /venv
COPY requirements.lock ./
RUN /venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY chatserver ./chatserver
# The project itself (its build backend, setuptools, comes from pyproject's build-system).
RUN /venv/bin/pip install --no-deps .

# 3. What runs: the virtualenv, the static pages and a default config; no compilers, no pip
#    cache, a system user without a shell.
FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/venv/bin:$PATH \
    CHATSERVER_CONFIG=/config CHATSERVER_DATA_DIR=/data \
    CHATSERVER_STATIC_DIR=/app/static CHATSERVER_LOG_FORMAT=json \
    PORT=8080 HOST=0.0.0.0
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin chatserver \
    && mkdir -p /data /config && chown chatserver /data
COPY --from=build /venv /venv
COPY static /app/static
COPY --from=vendor /src/static/vendor /app/static/vendor
COPY config /config
USER 10001
# /config: helplines.toml (mount your own, read-only; SIGHUP reloads it).
# /data: accounts, staff sessions and daily counts without Redis (back it up).
VOLUME ["/config", "/data"]
EXPOSE 8080
# docker stop sends SIGTERM: the server drains within CHATSERVER_DRAIN_SECONDS (10 s).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
CMD ["chatserver", "run"]

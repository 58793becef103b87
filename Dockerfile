# The browser libraries the widget serves from our own origin (static/vendor/, not in git).
FROM node:20-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor.sh ./scripts/
RUN scripts/vendor.sh --omit-dev

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CHATSERVER_CONFIG=/app/config CHATSERVER_DATA_DIR=/data \
    CHATSERVER_STATIC_DIR=/app/static PORT=8080 HOST=0.0.0.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY chatserver ./chatserver
COPY static ./static
COPY --from=vendor /src/static/vendor ./static/vendor
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /data --shell /usr/sbin/nologin chatserver \
    && mkdir -p /data && chown chatserver /data

USER chatserver
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz').status == 200 else 1)"
CMD ["chatserver", "run"]

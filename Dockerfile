# A Sluice node for cluster/docker-compose.yml (or any container platform). Configure it
# with SLUICE_* environment variables (see src/node/config.ts): at least
# SLUICE_NATS_URL, since the image holds no nats-server of its own.
#
#   docker build -t sluice:local .
#   docker run -e SLUICE_NATS_URL=nats://host:4222 -p 8080:8080 sluice:local

# The Bun the repository pins (package.json devDependencies); slim is Debian, whose glibc
# DuckDB's prebuilt bindings need.
ARG BUN_VERSION=1.4.5
FROM oven/bun:${BUN_VERSION}-slim

WORKDIR /app
# Dependencies first: this layer is rebuilt only when they change, not on every source edit.
COPY package.json package-lock.json ./
RUN bun install --production && rm -rf /root/.bun/install/cache

COPY tsconfig.json ./
COPY src/ src/
COPY bin/ bin/

# A named volume mounted here starts with this ownership, so the non-root user can write it.
RUN mkdir -p /data && chown bun:bun /data
USER bun

ENV SLUICE_HTTP_HOST=0.0.0.0 \
    SLUICE_HTTP_PORT=8080 \
    SLUICE_DATA_DIR=/data
EXPOSE 8080
VOLUME ["/data"]
# SIGTERM (Docker's stop signal) makes the node stop intake, seal, ack and exit.
CMD ["bun", "src/main.ts"]

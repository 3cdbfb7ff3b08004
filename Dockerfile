# syntax=docker/dockerfile:1
# Tessera's image. Its steps live in scripts/image.sh, which CI runs for real (our machines have
# no Docker engine): build and pack, install for production, then a runtime with node and the
# installed app only. README.md, "Run in a container", says how to run it:
#
#   docker build -t tessera .
#   docker run -v "$PWD/certs:/tls:ro" -v tessera-data:/data -p 50051:50051 -p 8080:8080 tessera
#
# It serves TLS on 0.0.0.0 (published ports need a non-loopback address, and Tessera refuses
# plaintext on one): mount server.pem and server-key.pem at /tls. As a sidecar that only its pod
# reaches, set TESSERA_HOST=127.0.0.1 and empty TESSERA_TLS_CERT/TESSERA_TLS_KEY instead.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# 1. Build: dev dependencies, TypeScript, npm pack. The compilers are for better-sqlite3, which
#    builds from source when no prebuilt binary can be downloaded for this platform.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/image.sh build /out

# 2. Production install: `npm ci --omit=dev` of the packed tree into /app (reusing the SQLite
#    addon built above), and an empty data directory for the runtime user.
FROM build AS install
RUN bash scripts/image.sh install /out /app \
 && mkdir -p /volume/data \
 && chown 65532:65532 /volume/data

# 3. Runtime: node and /app, nothing else (no npm, no shell, no compiler), as a non-root user
#    (distroless "nonroot", uid 65532). /app stays root-owned: the server cannot change its code.
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="tessera" \
      org.opencontainers.image.description="Identity and policy-decision service for agent meshes" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=install /app /app
COPY --from=install --chown=65532:65532 /volume/data /data
ENV TESSERA_DATA_DIR=/data \
    TESSERA_HOST=0.0.0.0 \
    TESSERA_GRPC_PORT=50051 \
    TESSERA_HTTP_PORT=8080 \
    TESSERA_HEALTH_PORT=8081 \
    TESSERA_TLS_CERT=/tls/server.pem \
    TESSERA_TLS_KEY=/tls/server-key.pem
USER 65532:65532
VOLUME ["/data"]
# gRPC (AuthService, AdminService, health, reflection), HTTP (Connect, gRPC-Web, JWKS, /healthz),
# and the health port (/livez, /readyz: answered by the primary, whatever the load).
EXPOSE 50051 8080 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/nodejs/bin/node", "/app/scripts/healthcheck.mjs"]
ENTRYPOINT ["/nodejs/bin/node", "/app/scripts/container.mjs"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# Builds Biblio's two binaries (biblio-api, biblio-web) once; docker-compose.yml runs the
# API replicas, the web front and the seeding job from this one image.

# ---- build ---------------------------------------------------------------------------
# The toolchain matches the workspace's rust-version.
FROM rust:1.94-bookworm AS build
# cmake: the aws-lc-sys build script (jsonwebtoken's crypto backend) may use it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target/ between builds; the binaries are copied out
# because a cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p biblio-api -p biblio-web \
 && mkdir -p /out \
 && cp target/release/biblio-api target/release/biblio-web /out/

# ---- runtime -------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates for TLS to external endpoints; curl for the compose healthchecks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin biblio
COPY --from=build /out/biblio-api /out/biblio-web /usr/local/bin/
USER biblio
ENV RUST_LOG=info
EXPOSE 8081 8082 8083
# Graceful shutdown: finish in-flight requests on SIGTERM (docker stop).
STOPSIGNAL SIGTERM
CMD ["biblio-api"]

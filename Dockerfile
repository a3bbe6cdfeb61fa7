# syntax=docker/dockerfile:1.7
#
# Multi-stage build of the hello-ship server.
#
#   chef     the Rust toolchain plus cargo-chef
#   planner  reduces the workspace to a recipe: manifests and Cargo.lock only
#   build    compiles the dependencies from the recipe (a layer that changes
#            only when a manifest or Cargo.lock does), then hello-ship itself
#   runtime  distroless cc: glibc, libgcc and CA certificates, no shell and no
#            package manager, running as the numeric user 65532
#
# No secret enters any layer: provider keys and REDIS_URL arrive at run time
# as environment variables or mounted files. .dockerignore keeps .env files,
# keys and local databases out of the build context.
#
# Build: docker build -t hello-ship .
# Run:   docker run --rm -p 8080:8080 --read-only hello-ship --demo

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
# The pinned version keeps the recipe format stable between builds.
RUN cargo install --locked cargo-chef --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer. The registry cache mount only saves downloads; the
# compiled dependencies stay in this layer's target/, so they are reused from
# a registry cache (--cache-from) as well as on the same builder.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked -p hello-ship --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked -p hello-ship \
    && install -D -m 0755 target/release/hello-ship /out/hello-ship

# distroless/cc carries glibc and libgcc_s, the only shared libraries the
# binary links (TLS is rustls and SQLite is compiled in). Its Debian 12 base
# matches the glibc of the bookworm build stage.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/hello-ship /usr/local/bin/hello-ship
# 65532 is distroless's "nonroot" user. The numeric form lets Kubernetes
# verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
WORKDIR /home/nonroot
EXPOSE 8080
ENV HELLO_SHIP_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/usr/local/bin/hello-ship"]
CMD ["serve"]

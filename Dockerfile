# syntax=docker/dockerfile:1.7
# Multi-stage build: compile in the Rust image, run from a slim image as a
# non-root user. No secret is copied into any layer: keys arrive at run time
# through the environment or mounted files.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and compiled dependencies between builds,
# so a source change rebuilds only hello-ship's own crates.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hello-ship \
    && cp target/release/hello-ship /usr/local/bin/hello-ship

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home hello-ship
COPY --from=build /usr/local/bin/hello-ship /usr/local/bin/hello-ship
USER 10001
EXPOSE 8080
ENV HELLO_SHIP_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/usr/local/bin/hello-ship"]
CMD ["serve"]

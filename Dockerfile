# The one `tradai` binary as a container image. Every role of the platform is a subcommand of
# it: the services (`serve backend-api | data-collection | strategy-service`, or `up` for all
# three), the queue workers, the strategy container and the Lambda handlers; ECS task
# definitions and compose.yaml pick the role with the container's command.
#
#   docker build -t tradai .
#   docker run --rm tradai --help
#
# Two stages: the release build on the Rust image, then only the binary (and CA certificates
# for HTTPS to AWS and the exchanges, curl for health checks) on a slim Debian.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Manifests and sources; target/ and .venv/ are left out by .dockerignore.
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates crates
RUN cargo build --release --locked -p tradai-cli --bin tradai \
    && cp target/release/tradai /usr/local/bin/tradai

FROM debian:bookworm-slim AS runtime
# Debian's stable security updates replace these packages' exact versions; pinning one would
# break the build at the next update, so the release (bookworm) is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home tradai
COPY --from=build /usr/local/bin/tradai /usr/local/bin/tradai
COPY sample-data /opt/tradai/sample-data
USER 10001
WORKDIR /data
ENV TRADAI_DATA_DIR=/data
EXPOSE 8000 8002 8003
ENTRYPOINT ["tradai"]
CMD ["up", "--host", "0.0.0.0"]

# Branchwatch agent image. Build context: the repository root.
#
#   docker build -f deploy/docker/agent.Dockerfile --build-arg PG_MAJOR=16 -t branchwatch-agent:pg16 .
#
# PG_MAJOR must be the major version of the branch's PostgreSQL server (or
# newer): pg_dump refuses to dump a server newer than itself. The runtime
# stage installs exactly postgresql-client-${PG_MAJOR} from the PostgreSQL
# project's Debian repository (apt.postgresql.org), which carries every
# supported major version, and puts its bin directory first on PATH so the
# agent finds that pg_dump and pg_restore.

ARG GO_VERSION=1.26
ARG PG_MAJOR=16
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
ARG VERSION=dev
WORKDIR /src
# Module files first so the download layer is cached across code changes.
# The agent module builds alone (GOWORK=off) through its replace line for ../shared.
COPY shared/go.mod shared/go.sum ./shared/
COPY agent/go.mod agent/go.sum ./agent/
ENV GOWORK=off CGO_ENABLED=0 GOFLAGS=-trimpath
RUN cd agent && go mod download
COPY shared/ ./shared/
COPY agent/ ./agent/
RUN cd agent && go build -tags timetzdata \
      -ldflags "-s -w -X github.com/branchwatch/branchwatch/agent/internal/cli.Version=${VERSION}" \
      -o /out/agent ./cmd/agent

FROM debian:${DEBIAN_RELEASE}-slim
ARG PG_MAJOR
ARG DEBIAN_RELEASE
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl tzdata; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${DEBIAN_RELEASE}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version
ENV PATH="/usr/lib/postgresql/${PG_MAJOR}/bin:${PATH}" \
    BACKUP_DIR=/backups \
    AGENT_LISTEN=0.0.0.0:9187
RUN groupadd --system --gid 10001 branchwatch \
 && useradd --system --uid 10001 --gid branchwatch --home-dir /backups --shell /usr/sbin/nologin branchwatch \
 && install -d -o branchwatch -g branchwatch -m 0750 /backups
COPY --from=build /out/agent /usr/local/bin/agent
USER branchwatch:branchwatch
VOLUME ["/backups"]
EXPOSE 9187
ENTRYPOINT ["/usr/local/bin/agent"]
CMD ["run"]

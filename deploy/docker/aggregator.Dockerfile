# Branchwatch aggregator image. Build context: the repository root.
#
#   docker build -f deploy/docker/aggregator.Dockerfile -t branchwatch-aggregator .
#
# A static binary on distroless (CA certificates and tzdata included, no
# shell), running as an unprivileged user.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
ARG VERSION=dev
WORKDIR /src
# Module files first so the download layer is cached across code changes.
# The aggregator module builds alone (GOWORK=off) through its replace lines
# for ../shared and ../web.
COPY shared/go.mod shared/go.sum ./shared/
COPY web/go.mod web/go.sum ./web/
COPY aggregator/go.mod aggregator/go.sum ./aggregator/
ENV GOWORK=off CGO_ENABLED=0 GOFLAGS=-trimpath
RUN cd aggregator && go mod download
COPY shared/ ./shared/
COPY web/ ./web/
COPY aggregator/ ./aggregator/
RUN cd aggregator && go build -tags timetzdata -ldflags "-s -w -X github.com/branchwatch/branchwatch/aggregator/internal/app.Version=${VERSION}" \
      -o /out/aggregator ./cmd/aggregator \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/aggregator /usr/local/bin/aggregator
# A new named volume takes the ownership of the image's /data: make it the
# nonroot user's (65532), or the index snapshot could not be written.
COPY --from=build --chown=65532:65532 /out/data /data
ENV AGGREGATOR_LISTEN=0.0.0.0:8080 \
    AGGREGATOR_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/aggregator"]
CMD ["serve"]

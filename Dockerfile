# syntax=docker/dockerfile:1
# One image per service, from one file:
#   docker build --build-arg SERVICE=user -t gomicro-stack/user:0.1.0 .
# SERVICE is configserver, user, greeter, gateway or consul-acl; `make images` builds them all.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change. A module that a
# replace points at inside the repository (the etcd stub, the consul registry) is part of that
# graph.
COPY go.mod go.sum ./
COPY third_party/etcd-stub/go.mod third_party/etcd-stub/
COPY third_party/go-plugins-consul/go.mod third_party/go-plugins-consul/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG SERVICE
# scripts/build-binary.sh holds the build flags; `make images` and a test use the same script.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    scripts/build-binary.sh "${SERVICE}" /out/app && \
    scripts/build-binary.sh healthcheck /out/healthcheck

# Static binaries need no libc: distroless static, running as its nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
COPY --from=build /out/healthcheck /healthcheck
USER 65532:65532
ENTRYPOINT ["/app"]

# One image per service, from one file:
#   docker build --build-arg SERVICE=user -t gomicro-stack/user:0.1.0 .
# SERVICE is configserver, user, greeter, gateway, consul-acl or a service make service added;
# `make images` builds them all.
#
# No "# syntax=" line: it would make BuildKit pull a frontend image, which fails offline and
# behind registry mirrors; the engine's built-in frontend handles RUN --mount. Build with BuildKit
# (Docker 23 and later do by default; docker compose needs the buildx plugin, 0.17 or later).
#
# Behind a TLS-inspecting proxy, give the build that proxy's CA certificates as the secret
# extra_ca (docker build --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt; compose
# and make images read EXTRA_CA_CERTIFICATES); GOPROXY, GONOSUMDB, GOPRIVATE and GOFLAGS pass
# through as build arguments.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
ARG GOPROXY=https://proxy.golang.org,direct
ARG GONOSUMDB=
ARG GOPRIVATE=
ARG GOFLAGS=
ENV GOPROXY=${GOPROXY} GONOSUMDB=${GONOSUMDB} GOPRIVATE=${GOPRIVATE} GOFLAGS=${GOFLAGS} \
    SSL_CERT_DIR=/etc/ssl/certs:/run/secrets
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change. A module that a
# replace points at inside the repository (the consul registry) is part of that
# graph. Go trusts the certificates of every file in SSL_CERT_DIR: the secret extra_ca, when
# given, is mounted at /run/secrets/extra_ca for this step only.
COPY go.mod go.sum ./
COPY third_party/go-plugins-consul/go.mod third_party/go-plugins-consul/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=secret,id=extra_ca \
    go mod download
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

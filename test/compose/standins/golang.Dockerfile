# Stand-in for golang:VERSION-bookworm (see build.sh): Debian bookworm with this machine's Go
# toolchain, laid out as the official image is. No CA certificates but Debian's: a build behind
# a TLS-inspecting proxy needs the Dockerfile's extra_ca secret, as with the real image.
ARG BASE
FROM ${BASE}
ARG GO_VERSION
COPY go /usr/local/go
ENV GOLANG_VERSION=${GO_VERSION} GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go

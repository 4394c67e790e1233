#!/usr/bin/env bash
# make k8s-e2e: the dev overlay running in pods (as root). A Docker engine and the stand-ins as
# for make compose-test; the project's images built from its Dockerfile (make images); etcd and
# Kubernetes' control plane and node binaries and CoreDNS built from the module proxy (once per
# machine); Debian's containerd (with docker.io) and CNI plugins; a pause image made here; then
# test/deploy/apiserver's TestSystemRunsInPods.
#   scripts/k8s-e2e.sh CONSUL_BINARY JAEGER_BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
consul=${1:?consul binary (make consul)}
jaeger=${2:?jaeger binary (make jaeger)}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gomicro-stack
mkdir -p "$cache"
[ "$(id -u)" = 0 ] || { echo "k8s-e2e needs root (network namespaces, containerd, kubelet)" >&2; exit 1; }
. scripts/lib/containers.sh

if [ ! -x /usr/lib/cni/bridge ]; then
  step "installing containernetworking-plugins"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containernetworking-plugins >/dev/null
fi
containers_engine
containers_plugins
containers_standins "$consul" "$jaeger"
step "the images (make images, and a :0.2.0 tag of each for the upgrade)"
ours=(configserver user greeter gateway consul-acl)
make images VERSION=0.1.0 EXTRA_CA_CERTIFICATES="${EXTRA_CA_CERTIFICATES:-}" >/dev/null
images=()
for s in "${ours[@]}"; do
  docker tag "gomicro-stack/$s:0.1.0" "gomicro-stack/$s:0.2.0"
  images+=("gomicro-stack/$s:0.1.0" "gomicro-stack/$s:0.2.0")
done
# A pod's sandbox: a process that waits for its end, as registry.k8s.io/pause is.
work=$(mktemp -d)
trap 'rm -rf "$work"; kill "${dockerd_pid:-}" 2>/dev/null || true' EXIT
printf 'package main\n\nimport (\n\t"os"\n\t"os/signal"\n\t"syscall"\n)\n\nfunc main() {\n\tc := make(chan os.Signal, 1)\n\tsignal.Notify(c, syscall.SIGINT, syscall.SIGTERM)\n\t<-c\n}\n' >"$work/main.go"
(cd "$work" && go mod init pause >/dev/null 2>&1 && CGO_ENABLED=0 go build -o pause . && printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >Dockerfile)
docker build -q -t registry.k8s.io/pause:3.10 "$work" >/dev/null
images+=(registry.k8s.io/pause:3.10 hashicorp/consul:1.14.11 postgres:15.10 jaegertracing/jaeger:2.12.0)

step "etcd, Kubernetes and CoreDNS"
scripts/build-kubernetes.sh bin/kubernetes kube-controller-manager kube-scheduler kubelet kube-proxy
scripts/build-from-proxy.sh github.com/coredns/coredns v1.12.1 bin/kubernetes/coredns

step "the system in pods"
cd test/deploy
K8S_E2E=1 K8S_BIN="$root/bin/kubernetes" COREDNS_BIN="$root/bin/kubernetes/coredns" K8S_IMAGES="${images[*]}" \
  go test -count=1 -v -timeout 30m -run TestSystemRunsInPods ./apiserver
step "done"

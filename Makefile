# Makefile of gomicro-stack. `make run` starts the whole system, `make test` runs every test CI runs.
SHELL := /bin/bash
GO ?= go
BIN := bin
SERVICES := $(BIN)/configserver $(BIN)/user $(BIN)/greeter $(BIN)/gateway $(BIN)/consul-acl
# PROFILE picks the config-repo profile the services boot with: make run PROFILE=dev
PROFILE ?= default
# USER_INSTANCES and GREETER_INSTANCES start several instances: make run USER_INSTANCES=2
USER_INSTANCES ?= 1
GREETER_INSTANCES ?= 1
# A consul (consul-template) already on PATH is used as it is; otherwise it is built once.
CONSUL := $(or $(shell command -v consul 2>/dev/null),$(CURDIR)/$(BIN)/consul)
CONSUL_TEMPLATE := $(or $(shell command -v consul-template 2>/dev/null),$(CURDIR)/$(BIN)/consul-template)
JAEGER := $(or $(shell command -v jaeger 2>/dev/null),$(CURDIR)/$(BIN)/jaeger)
# TRACING=1 starts Jaeger with `make run` and sends every request's spans to it (opt-in: its
# first build takes about six minutes; after that it starts in under a second).
TRACING ?= 0
# Images: make images VERSION=0.2.0 REGISTRY=registry.example.com/
VERSION ?= 0.1.0
REGISTRY ?=
# every folder of service/ (those make service added too), the gateway and consul-acl
IMAGE_SERVICES := $(notdir $(wildcard service/*)) gateway consul-acl
GOFILES := $(shell find . -name '*.go' -not -path './bin/*' 2>/dev/null)

.DEFAULT_GOAL := help
.PHONY: help run build service test cross unit e2e cluster-test bench deploy-check vulncheck proto proto-check fmt-check vet consul consul-template jaeger tools images compose-up compose-test k8s-test k8s-e2e k8s-render clean

# help: list the targets
help:
	@awk '/^# [a-z0-9-]+: / { sub(/^# /, ""); i = index($$0, ": "); printf "  make %-12s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }' $(MAKEFILE_LIST)

# run: build what is missing and start Consul, the config server, user, greeter and the gateway on :8080 (Ctrl-C stops all; TRACING=1: Jaeger too, UI on :16686)
run: build consul $(if $(filter 1,$(TRACING)),jaeger)
	@$(BIN)/run --bin $(BIN) --consul $(CONSUL) --profile $(PROFILE) --users $(USER_INSTANCES) --greeters $(GREETER_INSTANCES) $(if $(filter 1,$(TRACING)),--jaeger $(JAEGER))

# build: compile the service binaries and the local runner into bin/
build: $(SERVICES) $(BIN)/run

# One go build makes them all: a grouped target (&:), so make -j runs it once, not once per
# binary. Grouped targets need GNU make 4.3 or later; macOS's own make 3.81 lacks them (not
# tried here), Homebrew's gmake has them.
$(SERVICES) $(BIN)/run &: $(GOFILES) go.mod go.sum
	$(GO) build -o $(BIN)/ ./service/... ./gateway ./tools/consul-acl ./tools/run

# VULNDB is the Go vulnerability database govulncheck reads: the offline copy in ../shared/vulndb
# where there is one (these machines reach no other), else the public one.
VULNDB ?= $(if $(wildcard $(CURDIR)/../shared/vulndb/index/db.json),file://$(abspath $(CURDIR)/../shared/vulndb),https://vuln.go.dev)

# test: every check CI runs — generated code fresh, formatting, vet, known vulnerabilities, unit and end-to-end tests
# (the end-to-end tests run verbose: their measured figures — failed requests, time to open a
# breaker, deregistration delay — are part of the output)
test: proto-check fmt-check vet cross vulncheck consul consul-template jaeger deploy-check
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/test/e2e\|/test/cluster\|/test/compose')
	cd third_party/go-plugins-consul && $(GO) test -count=1 ./...
	CONSUL_BIN=$(CONSUL) CONSUL_TEMPLATE_BIN=$(CONSUL_TEMPLATE) JAEGER_BIN=$(JAEGER) $(GO) test -count=1 -v ./test/e2e
	CONSUL_BIN=$(CONSUL) $(GO) test -count=1 -v ./test/cluster

# cluster-test: several hosts on this machine (network namespaces, as root): three Consul servers and client agents from deploy/consul, a lost leader, a partition, a dead host (about a minute)
cluster-test: consul
	CONSUL_BIN=$(CONSUL) $(GO) test -count=1 -v ./test/cluster

# bench: the full path against the machine's limits, and tracing off, 1.0 and 0.01 (about 15 minutes): writes BENCHMARKS.md and bench/results/*.json
bench: consul jaeger
	CONSUL_BIN=$(CONSUL) JAEGER_BIN=$(JAEGER) $(GO) run ./bench

# deploy-check: the compose file, the Kubernetes overlays and the image build, checked without a Docker engine
deploy-check:
	cd test/deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

# vulncheck: govulncheck (the version go.mod pins) on the services and on test/deploy; fails when the code reaches a known vulnerability (VULNDB=file:///path for an offline copy)
vulncheck: $(BIN)/govulncheck
	$(BIN)/govulncheck -db $(VULNDB) ./...
	cd test/deploy && $(CURDIR)/$(BIN)/govulncheck -db $(VULNDB) ./...

$(BIN)/govulncheck: go.mod
	$(GO) build -o $(BIN)/ golang.org/x/vuln/cmd/govulncheck

# cross: everything builds for macOS and Windows too (make run works on macOS; nothing Linux-only outside files with build tags)
cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...

# unit: the tests that need no running processes (fast)
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/test/e2e\|/test/cluster\|/test/compose')

# e2e: only the end-to-end tests (real Consul, real binaries)
e2e: consul consul-template jaeger
	CONSUL_BIN=$(CONSUL) CONSUL_TEMPLATE_BIN=$(CONSUL_TEMPLATE) JAEGER_BIN=$(JAEGER) $(GO) test -count=1 -v ./test/e2e

# service: write a new service NAME (its proto with one route, main, handler, domain with a test, config-repo file, Consul grant, place in make run) and generate its code: make service NAME=order
service: tools
	@[ -n "$(NAME)" ] || { echo "usage: make service NAME=order"; exit 1; }
	$(GO) run ./tools/newservice --name "$(NAME)"
	scripts/protogen.sh
	@echo "service $(NAME) written: make run serves POST /$(NAME)/hello (README: Add a service)"

# proto: regenerate the committed *.pb.go, *.pb.micro.go, *.pb.validate.go, *.pb.docs.go and api/openapi.yaml from proto/
proto: tools
	scripts/protogen.sh

# proto-check: fail when the committed generated code differs from what proto/ generates
proto-check: tools
	@if ! command -v protoc >/dev/null; then \
	  if [ "$$CI" = true ]; then echo "protoc missing (apt-get install protobuf-compiler)"; exit 1; fi; \
	  echo "NOTICE: protoc not found, generated code NOT checked (apt-get install protobuf-compiler)"; exit 0; \
	fi; \
	tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	  scripts/protogen.sh $$tmp && \
	  for f in $$(cd $$tmp && find proto api bench test -name '*.go' -o -name '*.yaml'); do \
	    cmp -s $$tmp/$$f $$f || { echo "$$f is stale: run make proto"; diff -u $$f $$tmp/$$f | head -20; exit 1; }; \
	  done && \
	  for f in $$(find proto -name '*.pb*.go'); do \
	    [ -f $$tmp/$$f ] || { echo "$$f has no .proto: delete it"; exit 1; }; \
	  done && echo "generated code is fresh"

# fmt-check: fail when gofmt would change a hand-written file
fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -name '*.pb*.go' -not -path './bin/*')); \
	  [ -z "$$out" ] || { echo "gofmt would change: $$out"; exit 1; }

# vet: go vet every package
vet:
	$(GO) vet ./...

# consul: make sure a Consul agent binary exists (built from the module proxy when none is on PATH)
consul:
	@[ -x "$(CONSUL)" ] || scripts/build-from-proxy.sh github.com/hashicorp/consul v1.14.11 $(BIN)/consul

# consul-template: make sure a consul-template binary exists (renders deploy/nginx's upstream)
consul-template:
	@[ -x "$(CONSUL_TEMPLATE)" ] || scripts/build-from-proxy.sh github.com/hashicorp/consul-template v0.40.0 $(BIN)/consul-template

# jaeger: make sure a Jaeger (v2, all in one) binary exists (built from the module proxy when none is on PATH; its UI is a placeholder page, see README)
jaeger:
	@[ -x "$(JAEGER)" ] || scripts/build-from-proxy.sh github.com/jaegertracing/jaeger v1.75.0 $(BIN)/jaeger ./cmd/jaeger

# EXTRA_CA_CERTIFICATES: behind a TLS-inspecting proxy, the CA certificates image builds must trust to reach the module proxy
EXTRA_CA_CERTIFICATES ?=
comma := ,

# images: build the service images (and consul-acl) from the one Dockerfile (needs a Docker engine with BuildKit; passes this machine's GOPROXY, GONOSUMDB, GOPRIVATE and GOFLAGS)
images:
	for s in $(IMAGE_SERVICES); do \
	  docker build --build-arg SERVICE=$$s \
	    --build-arg GOPROXY="$$($(GO) env GOPROXY)" --build-arg GONOSUMDB="$$($(GO) env GONOSUMDB)" \
	    --build-arg GOPRIVATE="$$($(GO) env GOPRIVATE)" --build-arg GOFLAGS="$$($(GO) env GOFLAGS)" \
	    $(if $(EXTRA_CA_CERTIFICATES),--secret id=extra_ca$(comma)src=$(EXTRA_CA_CERTIFICATES)) \
	    -t $(REGISTRY)gomicro-stack/$$s:$(VERSION) . || exit 1; \
	done

# compose-test: docker-compose.yml for real, with a Docker engine (installed and started if missing), the Compose and buildx plugins and stand-ins for images no registry gives here; images built, the stack up, used, restarted, down (the plugins and stand-ins are built once per machine)
compose-test: consul jaeger
	scripts/compose-test.sh $(CONSUL) $(JAEGER)

# compose-up: the whole system in containers (cp .env.example .env first; needs a Docker engine with the Compose and buildx plugins)
compose-up:
	@[ -f .env ] || { echo "copy .env.example to .env and set its secrets first"; exit 1; }
	docker compose up --build --wait

# k8s-test: the Kubernetes overlays applied to a real API server (etcd, kube-apiserver and kubectl, built once from the module proxy); dry run, apply, the same apply again, an autoscaler's change, an upgrade
k8s-test:
	scripts/build-kubernetes.sh $(BIN)/kubernetes
	cd test/deploy && K8S_TEST=1 K8S_BIN=$(CURDIR)/$(BIN)/kubernetes $(GO) test -count=1 -v -run TestOverlaysApplyAndUpgrade ./apiserver

# k8s-e2e: the dev overlay running in pods (as root), on a control plane and a node (kubelet, containerd, a CNI bridge in a network namespace, CoreDNS) built here, with the images from the Dockerfile; every pod Ready, hellos through the gateway's Service, a user pod lost and an upgrade under load
k8s-e2e: consul jaeger
	scripts/k8s-e2e.sh $(CONSUL) $(JAEGER)

# k8s-render: print the Kubernetes manifests of OVERLAY (dev or prod), as kubectl apply -k would apply them
OVERLAY ?= dev
k8s-render:
	@cd test/deploy && $(GO) run ./render ../../deploy/kubernetes/overlays/$(OVERLAY)

# tools: build the protoc plugins: protoc-gen-go, protoc-gen-micro and protoc-gen-validate at the versions go.mod pins, our protoc-gen-openapi and protoc-gen-protodocs, and the go-zero peer's protoc-gen-go and protoc-gen-go-grpc
tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-micro $(BIN)/protoc-gen-validate $(BIN)/protoc-gen-openapi $(BIN)/protoc-gen-protodocs $(BIN)/gozero-tools/protoc-gen-go-grpc
$(BIN)/protoc-gen-go $(BIN)/protoc-gen-micro $(BIN)/protoc-gen-validate &: go.mod
	$(GO) build -o $(BIN)/ github.com/golang/protobuf/protoc-gen-go github.com/micro/micro/v2/cmd/protoc-gen-micro github.com/envoyproxy/protoc-gen-validate
# the go-zero peer's generators, from its own go.mod
$(BIN)/gozero-tools/protoc-gen-go-grpc: bench/peers/gozero/go.mod
	cd bench/peers/gozero && $(GO) build -o $(CURDIR)/$(BIN)/gozero-tools/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
$(BIN)/protoc-gen-openapi: go.mod $(wildcard tools/protoc-gen-openapi/*.go internal/openapi/*.go internal/apispec/*.go internal/apijson/*.go proto/api/*.go)
	$(GO) build -o $(BIN)/ ./tools/protoc-gen-openapi
$(BIN)/protoc-gen-protodocs: go.mod $(wildcard tools/protoc-gen-protodocs/*.go)
	$(GO) build -o $(BIN)/ ./tools/protoc-gen-protodocs

# clean: remove built binaries (bin/consul is kept in ~/.cache/gomicro-stack) and local data (var/)
clean:
	rm -rf $(BIN) var

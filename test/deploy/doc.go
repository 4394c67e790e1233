// Package deploy checks what deploys the stack — docker-compose.yml, the Kubernetes overlays,
// the Dockerfile — without a Docker engine or a cluster. It is a module of its own, so that
// compose-go, k8s.io/api and kustomize stay out of the services' dependency graph (which pins
// grpc and protobuf for go-micro v2).
package deploy

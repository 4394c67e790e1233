module github.com/micro/go-plugins/registry/consul/v2

go 1.13

require (
	github.com/hashicorp/consul/api v1.3.0
	github.com/micro/go-micro/v2 v2.9.1
	github.com/mitchellh/hashstructure v1.0.0
)

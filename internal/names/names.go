// Package names holds the names by which the stack's binaries find each other in Consul, in one
// place: a service's registration, its callers, its Consul ACL policy and the tests all read
// them from here.
package names

const (
	// Namespace prefixes the services the gateway routes to: the RPCs of proto package user
	// are served as Namespace.user.
	Namespace = "go.micro.api"
	// User is the user service (go-micro, gRPC).
	User = Namespace + ".user"
	// Greeter is the greeter (go-micro, gRPC).
	Greeter = Namespace + ".greeter"
	// ConfigServer is the config server (HTTP, Spring Cloud Config's protocol).
	ConfigServer = "config-server"
	// Gateway is every gateway's HTTP address, for load balancers.
	Gateway = "gateway"
	// HTTPBroker is where go-micro's http broker registers the subscribers of events.
	HTTPBroker = "micro.http.broker"
)

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
	// HTTPBroker is where go-micro's http broker registers the subscribers of events; ours
	// register under BrokerOf their binary instead (see package events).
	HTTPBroker = "micro.http.broker"
)

// BrokerOf is where binary's http broker registers its subscriptions: a name of its own, which
// only binary's Consul token may write.
func BrokerOf(binary string) string { return HTTPBroker + "." + binary }

// Added are the services written by `make service` (tools/newservice), by binary name: each is
// served as Namespace.<name>, from service/<name>. Their Consul tokens and rights
// (consulacl.Grants, tools/keygen, tools/consul-acl), `make run` and the tests' stacks take
// them from here; the gateway needs nothing, it routes whatever the registry holds.
var Added = []string{
	// make service adds here
}

// Package registration keeps an HTTP service registered in Consul, with an HTTP health check,
// for as long as it runs, and deregisters it when it stops.
package registration

import (
	"context"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/micro/go-micro/v2/util/addr"

	"github.com/gomicro-stack/gomicro-stack/internal/outage"
)

// Config describes the registration.
type Config struct {
	// ConsulAddress is the agent's HTTP address, e.g. 127.0.0.1:8500.
	ConsulAddress string
	// ConsulToken is the ACL token that may register Name (empty: CONSUL_HTTP_TOKEN).
	ConsulToken string
	// Name is the service name clients discover, e.g. config-server.
	Name string
	// Address is the host:port clients reach the service at.
	Address string
	// HealthPath is the path Consul polls, e.g. /actuator/health.
	HealthPath string
	// CheckInterval is how often Consul polls it.
	CheckInterval time.Duration
	// Healthy tells whether the service is healthy right now; it sets the check's first status,
	// so that a healthy service is discoverable at once instead of after the first poll.
	Healthy func() bool
}

// Keep registers the service and checks every interval that Consul still knows it (an agent
// restarted in dev mode forgets everything), registering it again when not. It returns when ctx
// ends, after deregistering.
func Keep(ctx context.Context, c Config, interval time.Duration) error {
	client, err := api.NewClient(&api.Config{Address: c.ConsulAddress, Token: c.ConsulToken})
	if err != nil {
		return fmt.Errorf("consul client: %w", err)
	}
	host, portText, err := net.SplitHostPort(c.Address)
	if err != nil {
		return fmt.Errorf("advertised address %q: %w", c.Address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("advertised port %q: %w", portText, err)
	}
	id := c.Name + "-" + host + "-" + portText
	register := func() error {
		timeout := min(c.CheckInterval, 2*time.Second)
		status := api.HealthCritical
		if c.Healthy() {
			status = api.HealthPassing
		}
		return client.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: id, Name: c.Name, Address: host, Port: port,
			Meta: map[string]string{"scheme": "http"},
			Check: &api.AgentServiceCheck{
				HTTP:                           "http://" + c.Address + c.HealthPath,
				Interval:                       c.CheckInterval.String(),
				Timeout:                        timeout.String(),
				Status:                         status,
				DeregisterCriticalServiceAfter: "1m",
			},
		})
	}
	registered := false
	var outages outage.Tracker
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for first := true; ; first = false {
		// Asking the agent about a service it does not know is logged as an error by Consul, so
		// the first round registers without asking.
		if first || !known(client, id) {
			err := register()
			if outages.Observe(err) == outage.Began {
				log.Printf("register %s in Consul at %s: %v (retrying every %s)", c.Name, c.ConsulAddress, err, interval)
			}
			if err == nil {
				if registered {
					log.Printf("Consul had forgotten %s: registered it again", id)
				} else {
					log.Printf("registered %s in Consul at %s as %s", c.Name, c.ConsulAddress, id)
				}
				registered = true
			}
		}
		select {
		case <-ctx.Done():
			if registered {
				if err := client.Agent().ServiceDeregister(id); err != nil {
					return fmt.Errorf("deregister %s: %w", id, err)
				}
			}
			return nil
		case <-ticker.C:
		}
	}
}

func known(client *api.Client, id string) bool {
	_, _, err := client.Agent().Service(id, nil)
	return err == nil
}

// Advertise is the host:port to register for a server listening on listen: configured when
// set, else listen with an unspecified host (":8080") replaced by this machine's private IP, as
// go-micro does for its services.
func Advertise(configured, listen string) (string, error) {
	if configured != "" {
		if _, _, err := net.SplitHostPort(configured); err != nil {
			return "", fmt.Errorf("advertised address %q: %w", configured, err)
		}
		return configured, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("listen address %q has no fixed port to advertise", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = addr.Extract(""); err != nil {
			return "", fmt.Errorf("find an address to advertise: %w", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}

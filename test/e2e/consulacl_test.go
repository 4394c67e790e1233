package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestRogueRegistrationRefused: Consul runs with ACLs on and deny by default. A process
// inside the network that registers itself as the user service (to receive logins, passwords
// in clear) is refused, without a token and with another service's token; it cannot
// deregister the real instances either, nor read the catalog to find them. The user
// service's own token registers its own name.
func TestRogueRegistrationRefused(t *testing.T) {
	agent := func(token string) *consulapi.Agent {
		c, err := consulapi.NewClient(&consulapi.Config{Address: shared.ConsulAddress, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		return c.Agent()
	}
	rogue := &consulapi.AgentServiceRegistration{ID: "rogue-user", Name: "go.micro.api.user", Address: "127.0.0.1", Port: 1}
	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"a made-up token", "00000000-0000-4000-8000-000000000000"},
		{"the greeter's token", shared.ConsulTokens["greeter"]},
		{"the read-only token", shared.ConsulTokens["reader"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := agent(tc.token).ServiceRegister(rogue)
			if err == nil {
				agent(shared.ConsulTokens["user"]).ServiceDeregister(rogue.ID)
				t.Fatal("the rogue registration was accepted")
			}
			if !strings.Contains(err.Error(), "403") {
				t.Fatalf("want 403, got %v", err)
			}
			// Nor can it take the real instances out.
			services, err := agent(shared.ConsulTokens["reader"]).Services()
			if err != nil {
				t.Fatal(err)
			}
			for id, s := range services {
				if s.Service == "go.micro.api.user" {
					if err := agent(tc.token).ServiceDeregister(id); err == nil || !strings.Contains(err.Error(), "403") {
						t.Fatalf("deregistering %s: want 403, got %v", id, err)
					}
				}
			}
		})
	}
	if n := passingInstances(t, shared, "go.micro.api.user"); n < 1 {
		t.Fatalf("%d users passing after the attempts", n)
	}

	t.Run("without a token the catalog is empty", func(t *testing.T) {
		c, _ := consulapi.NewClient(&consulapi.Config{Address: shared.ConsulAddress})
		entries, _, err := c.Health().Service("go.micro.api.user", "", true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Fatalf("an anonymous caller saw %d user instances", len(entries))
		}
	})

	t.Run("no token touches another binary's event subscriptions", func(t *testing.T) {
		gatewaySubscriptions := names.BrokerOf("gateway")
		rogue := &consulapi.AgentServiceRegistration{ID: "rogue-subscriber", Name: gatewaySubscriptions, Address: "127.0.0.1", Port: 1,
			Meta: map[string]string{"broker": "http", "topic": "auth.revoked"}}
		if err := agent(shared.ConsulTokens["greeter"]).ServiceRegister(rogue); err == nil || !strings.Contains(err.Error(), "403") {
			agent(shared.ConsulTokens["gateway"]).ServiceDeregister(rogue.ID)
			t.Fatalf("the greeter's token registered a subscription as the gateway: %v", err)
		}
		services, err := agent(shared.ConsulTokens["reader"]).Services()
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for id, s := range services {
			if s.Service == gatewaySubscriptions {
				found++
				if err := agent(shared.ConsulTokens["greeter"]).ServiceDeregister(id); err == nil || !strings.Contains(err.Error(), "403") {
					t.Fatalf("the greeter's token deregistered the gateway's subscription %s: %v", id, err)
				}
			}
		}
		if found == 0 {
			t.Fatalf("no subscription of the gateway's registered as %s", gatewaySubscriptions)
		}
	})

	t.Run("the user service's token registers its own name", func(t *testing.T) {
		own := &consulapi.AgentServiceRegistration{ID: "acl-check-user", Name: "go.micro.api.user", Address: "127.0.0.1", Port: 1,
			Check: &consulapi.AgentServiceCheck{TTL: "10s", Status: consulapi.HealthCritical}}
		a := agent(shared.ConsulTokens["user"])
		if err := a.ServiceRegister(own); err != nil {
			t.Fatal(err)
		}
		if err := a.ServiceDeregister(own.ID); err != nil {
			t.Fatal(err)
		}
		greeterAsUser := *own
		greeterAsUser.Name, greeterAsUser.ID = "go.micro.api.greeter", "acl-check-greeter"
		if err := a.ServiceRegister(&greeterAsUser); err == nil || !strings.Contains(err.Error(), "403") {
			a.ServiceDeregister(greeterAsUser.ID)
			t.Fatalf("the user's token registered the greeter: %v", err)
		}
	})
}

// TestConsulACLTool runs the consul-acl binary (compose's bootstrap step, Kubernetes' keeper of
// the tokens) against the shared stack's agent: with the tokens the stack made, it updates them
// in place and everything keeps working; kept running, it puts back a token deleted behind its
// back and says it is healthy again; bad input is refused with a clear error.
func TestConsulACLTool(t *testing.T) {
	env := []string{"CONSUL_ADDRESS=" + shared.ConsulAddress, "CONSUL_WAIT=1s"}
	tokens := []string{}
	binaries := append([]string{"configserver", "user", "greeter", "gateway", "reader"}, names.Added...)
	for _, name := range binaries {
		tokens = append(tokens, "CONSUL_TOKEN_"+strings.ToUpper(name)+"="+shared.ConsulTokens[name])
	}
	run := func(env ...string) (string, error) {
		cmd := exec.Command(filepath.Join(binDir, "consul-acl"))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(append(append(env, tokens...), "CONSUL_MANAGEMENT_TOKEN="+shared.ConsulManagementToken)...)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d tokens in place", len(binaries))) {
		t.Fatalf("consul-acl: %v\n%s", err, out)
	}
	if n := passingInstances(t, shared, "go.micro.api.user"); n < 1 {
		t.Fatalf("%d users passing after consul-acl ran again", n)
	}
	t.Run("the agents' token", func(t *testing.T) {
		agentToken := "4f1c7f9e-2a0b-4c55-9d6e-0b8a1e2f3c4d"
		out, err := run(append(append(env, tokens...), "CONSUL_MANAGEMENT_TOKEN="+shared.ConsulManagementToken, "CONSUL_AGENT_TOKEN="+agentToken)...)
		if err != nil || !strings.Contains(out, "and the agents' token in place") {
			t.Fatalf("consul-acl with an agent token: %v\n%s", err, out)
		}
		consul, err := consulapi.NewClient(&consulapi.Config{Address: shared.ConsulAddress, Token: shared.ConsulManagementToken})
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := consul.ACL().TokenReadSelf(&consulapi.QueryOptions{Token: agentToken})
		if err != nil || len(token.Policies) != 1 || token.Policies[0].Name != "gomicro-agents" {
			t.Fatalf("the agents' token in Consul: %+v, %v", token, err)
		}
		policy, _, err := consul.ACL().PolicyReadByName("gomicro-agents", nil)
		if err != nil || policy.Rules != consulacl.AgentRules {
			t.Fatalf("the agents' policy: %+v, %v", policy, err)
		}
	})
	t.Run("kept in place", func(t *testing.T) {
		keepsTheTokens(t, append(append(env, tokens...), "CONSUL_MANAGEMENT_TOKEN="+shared.ConsulManagementToken))
	})
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"no management token", append(append([]string{}, env...), tokens...), "consul.management_token is required"},
		{"a token that is no UUID", append(append(append([]string{}, env...), tokens...), "CONSUL_MANAGEMENT_TOKEN="+shared.ConsulManagementToken, "CONSUL_TOKEN_USER=secret"), "token of user: want a UUID"},
		{"an agent token that is no UUID", append(append(append([]string{}, env...), tokens...), "CONSUL_MANAGEMENT_TOKEN="+shared.ConsulManagementToken, "CONSUL_AGENT_TOKEN=agent"), "agent token: want a UUID"},
		{"a wrong management token", append(append(append([]string{}, env...), tokens...), "CONSUL_MANAGEMENT_TOKEN=00000000-0000-4000-8000-000000000000"), "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.env...)
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("want exit 1 saying %q, got %v:\n%s", tc.want, err, out)
			}
		})
	}
}

// keepsTheTokens runs consul-acl as Kubernetes does (consul.every): a token deleted from Consul
// is back at the next round, its health check says 200, and SIGTERM ends it cleanly.
func keepsTheTokens(t *testing.T, env []string) {
	health := freeAddress(t)
	cmd := exec.Command(filepath.Join(binDir, "consul-acl"))
	cmd.Env = append(env, "CONSUL_EVERY=300ms", "HEALTH_ADDRESS="+health)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	healthy := func() error { return stack.AnswersOK(http.DefaultClient, "http://"+health+"/health") }
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, healthy); err != nil {
		t.Fatalf("consul-acl kept running is not healthy: %v\n%s", err, out.String())
	}
	consul, err := consulapi.NewClient(&consulapi.Config{Address: shared.ConsulAddress, Token: shared.ConsulManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	readerToken := shared.ConsulTokens["reader"]
	token, _, err := consul.ACL().TokenReadSelf(&consulapi.QueryOptions{Token: readerToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consul.ACL().TokenDelete(token.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	if err := stack.Eventually(10*time.Second, 100*time.Millisecond, func() error {
		_, _, err := consul.ACL().TokenReadSelf(&consulapi.QueryOptions{Token: readerToken})
		return err
	}); err != nil {
		t.Fatalf("the deleted token did not come back: %v\n%s", err, out.String())
	}
	if err := healthy(); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("consul-acl on SIGTERM: %v\n%s", err, out.String())
	}
}

func freeAddress(t *testing.T) string {
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

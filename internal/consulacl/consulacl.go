// Package consulacl sets up Consul's access control for the stack: with ACLs on and the default
// policy "deny", every binary gets a token of its own that may register its own service names
// and read the rest of the catalog, nothing more. A process without a token can neither
// register (so no rogue instance can take a service's calls) nor read the catalog.
//
// Apply is idempotent and takes the tokens' secrets from its caller, so that a deployment
// can hand each service its token before Consul exists (compose's .env, a Kubernetes Secret)
// and a Consul that restarts empty (a dev agent) gets the same tokens again.
package consulacl

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

// Grant is one binary's token: it may register the services named in Writes and read the
// catalog (services and nodes). A grant with no Writes is a read-only token (load balancers,
// dashboards, tests).
type Grant struct {
	// Name names the policy and token: "gomicro-<Name>".
	Name string
	// Writes are the service names the token may register.
	Writes []string
	// Secret is the token's SecretID, a UUID its holder sends as X-Consul-Token.
	Secret string
}

// Grants are the tokens of the stack's binaries, by binary name, with the secrets in secrets
// (by the same names); reader is the read-only token of tools and load balancers. A binary
// that subscribes to events through go-micro's http broker registers them under a name of its
// own (names.BrokerOf), which no other token may write.
func Grants(secrets map[string]string) ([]Grant, error) {
	writes := map[string][]string{
		"configserver": {names.ConfigServer},
		"user":         {names.User, names.BrokerOf("user")},
		"greeter":      {names.Greeter, names.BrokerOf("greeter")},
		"gateway":      {names.Gateway, names.BrokerOf("gateway")},
		"reader":       nil,
	}
	for _, name := range names.Added {
		writes[name] = []string{names.Namespace + "." + name, names.BrokerOf(name)}
	}
	var grants []Grant
	for name, w := range writes {
		secret := secrets[name]
		if !uuidRule.MatchString(secret) {
			return nil, fmt.Errorf("token of %s: want a UUID (uuidgen), got %q", name, redact(secret))
		}
		grants = append(grants, Grant{Name: name, Writes: w, Secret: secret})
	}
	sort.Slice(grants, func(i, j int) bool { return grants[i].Name < grants[j].Name })
	return grants, nil
}

var uuidRule = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func redact(secret string) string {
	if len(secret) > 4 {
		return secret[:4] + "…"
	}
	return secret
}

// Rules is the policy of a grant in Consul's HCL.
func (g Grant) Rules() string {
	var b strings.Builder
	for _, name := range g.Writes {
		fmt.Fprintf(&b, "service %q { policy = \"write\" }\n", name)
	}
	b.WriteString("service_prefix \"\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }\n")
	return b.String()
}

// Apply creates or updates the grants' policies and tokens through client, which must carry a
// management token, and gives the agent a token of its own (a node identity), so that it can
// keep its node in the catalog under the default "deny".
func Apply(client *api.Client, grants []Grant) error {
	if len(grants) == 0 {
		return errors.New("no grants to apply")
	}
	acl := client.ACL()
	for _, g := range grants {
		policy, err := upsertPolicy(acl, "gomicro-"+g.Name, g.Rules())
		if err != nil {
			return err
		}
		token := &api.ACLToken{
			AccessorID:  accessorFor(g.Secret),
			SecretID:    g.Secret,
			Description: "gomicro-stack " + g.Name,
			Policies:    []*api.ACLTokenPolicyLink{{ID: policy.ID}},
		}
		if err := upsertToken(acl, token); err != nil {
			return fmt.Errorf("token of %s: %w", g.Name, err)
		}
	}
	self, err := client.Agent().Self()
	if err != nil {
		return fmt.Errorf("read the agent's node name: %w", err)
	}
	node, _ := self["Config"]["NodeName"].(string)
	datacenter, _ := self["Config"]["Datacenter"].(string)
	if node == "" || datacenter == "" {
		return errors.New("the agent did not say its node name and datacenter")
	}
	agentSecret := uuidFrom("agent:" + node + ":" + datacenter + ":" + grants[0].Secret)
	agentToken := &api.ACLToken{
		AccessorID: accessorFor(agentSecret), SecretID: agentSecret, Description: "gomicro-stack agent " + node,
		NodeIdentities: []*api.ACLNodeIdentity{{NodeName: node, Datacenter: datacenter}},
	}
	if err := upsertToken(acl, agentToken); err != nil {
		return fmt.Errorf("agent token: %w", err)
	}
	if _, err := client.Agent().UpdateAgentACLToken(agentSecret, nil); err != nil {
		return fmt.Errorf("give the agent its token: %w", err)
	}
	return nil
}

// AgentRules are the rules of the token every agent of a cluster holds (its acl.tokens.agent):
// it keeps its own node in the catalog and reads the services it checks.
const AgentRules = "node_prefix \"\" { policy = \"write\" }\nservice_prefix \"\" { policy = \"read\" }\n"

// ApplyAgentToken creates or updates the agents' token with secret, through client, which must
// carry a management token: the token every agent of a cluster is configured with.
func ApplyAgentToken(client *api.Client, secret string) error {
	if !uuidRule.MatchString(secret) {
		return fmt.Errorf("agent token: want a UUID, got %q", redact(secret))
	}
	acl := client.ACL()
	policy, err := upsertPolicy(acl, "gomicro-agents", AgentRules)
	if err != nil {
		return err
	}
	return upsertToken(acl, &api.ACLToken{AccessorID: accessorFor(secret), SecretID: secret, Description: "gomicro-stack agents",
		Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}})
}

func upsertPolicy(acl *api.ACL, name, rules string) (*api.ACLPolicy, error) {
	existing, _, err := acl.PolicyReadByName(name, nil)
	if err != nil && !notFound(err) {
		return nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	if existing == nil {
		p, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
		if err != nil {
			return nil, fmt.Errorf("create policy %s: %w", name, err)
		}
		return p, nil
	}
	existing.Rules = rules
	p, _, err := acl.PolicyUpdate(existing, nil)
	if err != nil {
		return nil, fmt.Errorf("update policy %s: %w", name, err)
	}
	return p, nil
}

func upsertToken(acl *api.ACL, token *api.ACLToken) error {
	existing, _, err := acl.TokenRead(token.AccessorID, nil)
	if err != nil && !notFound(err) {
		return fmt.Errorf("read: %w", err)
	}
	if existing == nil {
		if _, _, err := acl.TokenCreate(token, nil); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	}
	if _, _, err := acl.TokenUpdate(token, nil); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}

// notFound: the agent answers 403 "ACL not found" for a policy or token it does not have.
func notFound(err error) bool { return strings.Contains(err.Error(), "ACL not found") }

// accessorFor derives a token's AccessorID (its public name) from its secret, so that Apply
// finds the token it made before without listing every token.
func accessorFor(secret string) string { return uuidFrom("accessor:" + secret) }

// uuidFrom shapes the SHA-256 of text as a UUID (version 8: custom).
func uuidFrom(text string) string {
	sum := sha256.Sum256([]byte(text))
	sum[6] = sum[6]&0x0f | 0x80
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// NewSecret returns a random token secret (a version 4 UUID).
func NewSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// AgentConfig is the HCL that turns ACLs on in a dev agent, deny by default, with management as
// the initial management token (the one Apply runs with). It keeps no token on disk (a dev
// agent would write acl-tokens.json where it was started): Apply runs after every start.
func AgentConfig(management string) string {
	return fmt.Sprintf(`acl { enabled = true
  default_policy = "deny"
  down_policy = "extend-cache"
  tokens { initial_management = %q } }`, management)
}

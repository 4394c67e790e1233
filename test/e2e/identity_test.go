package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/micro/go-micro/v2/client"
	grpcclient "github.com/micro/go-micro/v2/client/grpc"
	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/metadata"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/internal/stack"
	greeterpb "github.com/gomicro-stack/gomicro-stack/proto/greeter"
	userpb "github.com/gomicro-stack/gomicro-stack/proto/user"
)

// TestDirectDialCannotForgeIdentity: a client inside the network dials the user and greeter
// services directly, past the gateway. Identity metadata it writes itself, or an assertion it
// signs with a key of its own, gets 401; only what the gateway signed is believed.
func TestDirectDialCannotForgeIdentity(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	c.signup("direct_victim_e2e")
	victimID := subject(t, c.login("direct_victim_e2e", "password-direct_victim_e2e").Str("token"))
	victim, _ := strconv.ParseUint(victimID, 10, 64)

	_, ownKey, _ := ed25519.GenerateKey(nil)
	selfSigned, err := auth.NewSigner(auth.AssertionConfig{PrivateKey: base64.StdEncoding.EncodeToString(ownKey.Seed()), TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	forgedAssertion, _ := selfSigned.Sign(auth.Identity{UserID: victim, Username: "direct_victim_e2e"}, "go.micro.api.user")
	forgedForGreeter, _ := selfSigned.Sign(auth.Identity{UserID: victim, Username: "direct_victim_e2e"}, "go.micro.api.greeter")

	rpc := grpcclient.NewClient()
	users := userpb.NewUserService("go.micro.api.user", rpc)
	greeters := greeterpb.NewGreeterService("go.micro.api.greeter", rpc)
	userAt := client.WithAddress(addressOf(t, "go.micro.api.user"))
	greeterAt := client.WithAddress(addressOf(t, "go.micro.api.greeter"))
	hello := &greeterpb.HelloRequest{Name: "Bob"}

	for _, tc := range []struct {
		name string
		md   metadata.Metadata
	}{
		{"unsigned identity metadata", metadata.Metadata{auth.HeaderUserID: victimID, auth.HeaderUsername: "direct_victim_e2e"}},
		{"an assertion signed with another key", metadata.Metadata{auth.HeaderAssertion: forgedAssertion}},
		{"an assertion signed with another key, for the greeter", metadata.Metadata{auth.HeaderAssertion: forgedForGreeter}},
		{"nothing", nil},
	} {
		ctx := metadata.NewContext(context.Background(), tc.md)
		info, err := users.GetUserInfo(ctx, &userpb.GetUserInfoRequest{}, userAt)
		if code := merrors.Parse(errString(err)).Code; code != http.StatusUnauthorized {
			t.Errorf("user, %s: %+v, %v; want 401", tc.name, info, err)
		}
		rsp, err := greeters.Hello(ctx, hello, greeterAt)
		if code := merrors.Parse(errString(err)).Code; code != http.StatusUnauthorized {
			t.Errorf("greeter, %s: %+v, %v; want 401", tc.name, rsp, err)
		}
	}
	// A caller inside gets no further with a request that breaks the proto's rules: the
	// service checks them too, before its handler.
	_, err = users.Register(context.Background(), &userpb.RegisterRequest{Username: "ab", Password: strings.Repeat("p", 73)}, userAt)
	if e := merrors.Parse(errString(err)); e.Code != http.StatusBadRequest || e.Status != "INVALID_ARGUMENT" || !strings.Contains(e.Detail, "password:") {
		t.Errorf("direct register breaking two rules: %+v; want 400 INVALID_ARGUMENT naming both", e)
	}
	// Through the gateway, the same person is greeted as themself.
	if a := c.hello(c.login("direct_victim_e2e", "password-direct_victim_e2e").Str("token"), "Bob"); a.Status != 200 || a.Str("username") != "direct_victim_e2e" {
		t.Fatalf("through the gateway: %d %s", a.Status, a.Raw)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// addressOf is the address of a passing instance of service in the shared stack's Consul.
func addressOf(t *testing.T, service string) string {
	t.Helper()
	return addressIn(t, shared, service)
}

// addressIn is the address of a passing instance of service in s's Consul.
func addressIn(t *testing.T, s *stack.Stack, service string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.ConsulAddress+"/v1/health/service/"+service+"?passing=1", nil)
	req.Header.Set("X-Consul-Token", s.ConsulTokens["reader"])
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var entries []struct {
		Service struct {
			Address string
			Port    int
		}
	}
	if err := json.NewDecoder(rsp.Body).Decode(&entries); err != nil || len(entries) == 0 {
		t.Fatalf("no %s in Consul: %v", service, err)
	}
	return net.JoinHostPort(entries[0].Service.Address, strconv.Itoa(entries[0].Service.Port))
}

// TestInternalKeyRotation: during a rotation the services trust the old and the new gateway
// key; a gateway still signing with the old one and one already on the new one serve side by
// side under load, and no request fails.
func TestInternalKeyRotation(t *testing.T) {
	keyPair := func() (seed, public string) {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(pub)
	}
	oldSeed, oldPublic := keyPair()
	newSeed, newPublic := keyPair()
	s := ownStack(t, stack.Config{InternalKey: oldSeed, Env: []string{"INTERNAL_AUTH_PUBLIC_KEYS=" + oldPublic + "," + newPublic}})
	token := newClient(t, s.GatewayURL).signup("rotation_e2e")

	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := s.StartService("gateway", []string{"REGISTRY_ADDRESS=" + s.ConsulAddress, "JWT_SECRET=" + s.JWTSecret,
		"CONFIG_FAIL_FAST=true", "INTERNAL_AUTH_PRIVATE_KEY=" + newSeed}, "--http_address", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rotated.Stop(5 * time.Second) })
	rotatedURL := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		rsp, err := http.Get(rotatedURL + "/health")
		if err != nil {
			return err
		}
		rsp.Body.Close()
		return nil
	}); err != nil {
		t.Fatalf("the gateway on the new key: %v", err)
	}
	if a := newClient(t, rotatedURL).hello(token, "Bob"); a.Status != 200 {
		t.Fatalf("a hello through the gateway on the new key: %d %s", a.Status, a.Raw)
	}

	old, renewed := newLoad(s.GatewayURL, token), newLoad(rotatedURL, token)
	done := make(chan struct{})
	go func() { old.run(50, 3*time.Second, 0, nil); close(done) }()
	renewed.run(50, 3*time.Second, 0, nil)
	<-done
	_, failedOld, _, _, _ := old.report(t, "hellos through the gateway on the old key")
	_, failedNew, _, _, _ := renewed.report(t, "hellos through the gateway on the new key")
	if failedOld+failedNew != 0 {
		t.Fatalf("%d + %d hellos failed during the rotation", failedOld, failedNew)
	}
}

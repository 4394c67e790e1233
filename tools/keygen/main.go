// Command keygen makes the key pair with which the gateway signs callers' identities for the
// services (the private key for the gateway, the public key for user and greeter) and the
// Consul tokens: the agent's management token and one per binary (tools/consul-acl gives them
// their rights). It prints them as environment lines for .env, secret.env or a Kubernetes
// Secret:
//
//	go run ./tools/keygen >> .env
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/gomicro-stack/gomicro-stack/internal/consulacl"
	"github.com/gomicro-stack/gomicro-stack/internal/names"
)

func main() {
	public, private, err := ed25519.GenerateKey(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	fmt.Printf("# The gateway's alone: it signs callers' identities.\nINTERNAL_AUTH_PRIVATE_KEY=%s\n", base64.StdEncoding.EncodeToString(private.Seed()))
	fmt.Printf("# user and greeter verify with it (during a rotation, the old and the new, comma-separated).\nINTERNAL_AUTH_PUBLIC_KEYS=%s\n", base64.StdEncoding.EncodeToString(public))
	fmt.Println("# Consul: the agent's management token, then one token per binary (and a read-only one).")
	tokens := []string{"MANAGEMENT", "TOKEN_CONFIGSERVER", "TOKEN_USER", "TOKEN_GREETER", "TOKEN_GATEWAY", "TOKEN_READER"}
	for _, name := range names.Added {
		tokens = append(tokens, "TOKEN_"+strings.ToUpper(name))
	}
	for _, name := range tokens {
		secret, err := consulacl.NewSecret()
		if err != nil {
			fmt.Fprintln(os.Stderr, "keygen:", err)
			os.Exit(1)
		}
		if name == "MANAGEMENT" {
			name = "MANAGEMENT_TOKEN"
		}
		fmt.Printf("CONSUL_%s=%s\n", name, secret)
	}
}

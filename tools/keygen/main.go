// Command keygen makes the key pair with which the gateway signs callers' identities for the
// services: the private key for the gateway, the public key for user and greeter. It prints
// them as environment lines for .env, secret.env or a Kubernetes Secret:
//
//	go run ./tools/keygen >> .env
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
)

func main() {
	public, private, err := ed25519.GenerateKey(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	fmt.Printf("# The gateway's alone: it signs callers' identities.\nINTERNAL_AUTH_PRIVATE_KEY=%s\n", base64.StdEncoding.EncodeToString(private.Seed()))
	fmt.Printf("# user and greeter verify with it (during a rotation, the old and the new, comma-separated).\nINTERNAL_AUTH_PUBLIC_KEYS=%s\n", base64.StdEncoding.EncodeToString(public))
}

package microsvc

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	merrors "github.com/micro/go-micro/v2/errors"
	"github.com/micro/go-micro/v2/server"
	gmetadata "google.golang.org/grpc/metadata"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

// TestVerifyCaller: a call with a good assertion gets its identity; a forged one is refused
// before the handler; none passes without an identity, and unsigned identity metadata gives
// none.
func TestVerifyCaller(t *testing.T) {
	const service = "go.micro.api.user"
	sign := func(id auth.Identity) (string, string) {
		public, private, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := auth.NewSigner(auth.AssertionConfig{PrivateKey: base64.StdEncoding.EncodeToString(private.Seed()), TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		token, err := signer.Sign(id, service)
		if err != nil {
			t.Fatal(err)
		}
		return token, base64.StdEncoding.EncodeToString(public)
	}
	good, public := sign(auth.Identity{UserID: 7, Username: "alice"})
	forged, _ := sign(auth.Identity{UserID: 1, Username: "admin"})
	verifier, err := auth.NewVerifier(auth.VerifierConfig{PublicKeys: []string{public}, Audiences: []string{service}})
	if err != nil {
		t.Fatal(err)
	}
	wrapped := callerWrapper(service, verifier)(func(ctx context.Context, _ server.Request, rsp interface{}) error {
		id, ok := auth.CallerFrom(ctx)
		*rsp.(*string) = strconv.FormatBool(ok) + " " + id.Username
		return nil
	})
	for _, tc := range []struct {
		name string
		md   map[string]string
		want string
		code int32
	}{
		{"good", map[string]string{auth.HeaderAssertion: good}, "true alice", 0},
		{"forged", map[string]string{auth.HeaderAssertion: forged}, "", 401},
		{"unsigned identity", map[string]string{auth.HeaderUserID: "1", auth.HeaderUsername: "admin"}, "false ", 0},
		{"nothing", nil, "false ", 0},
	} {
		var got string
		// As the gRPC server hands a call's headers to go-micro's (names in lower case).
		err := wrapped(gmetadata.NewIncomingContext(context.Background(), gmetadata.New(tc.md)), nil, &got)
		if tc.code != 0 {
			if err == nil || merrors.Parse(err.Error()).Code != tc.code {
				t.Errorf("%s: %v, want %d", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

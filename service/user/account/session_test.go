package account_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
	"github.com/gomicro-stack/gomicro-stack/service/user/account/accounttest"
)

// login registers name and logs in, returning the tokens and the identity the gateway would
// see in the access token.
func login(t *testing.T, svc *account.Service, keys *auth.Keys, name string) (account.Tokens, auth.Identity) {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Register(ctx, name, "password-"+name, ""); err != nil && !errors.Is(err, account.ErrUsernameTaken) {
		t.Fatal(err)
	}
	tokens, _, err := svc.Login(ctx, name, "password-"+name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.Verify(tokens.Access)
	if err != nil {
		t.Fatal(err)
	}
	return tokens, id
}

// revokedIDs lists the token ids and user ids the service says the gateways must refuse.
func revokedIDs(t *testing.T, svc *account.Service) (tokens []string, users map[uint64]int64) {
	t.Helper()
	list, _, err := svc.Revocations(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	users = map[uint64]int64{}
	for _, r := range list {
		if r.TokenID != "" {
			tokens = append(tokens, r.TokenID)
		}
		if r.UserID != 0 {
			users[r.UserID] = r.IssuedBefore
		}
	}
	return tokens, users
}

func TestRefreshRotates(t *testing.T) {
	svc, keys := accounttest.NewService(t)
	ctx := context.Background()
	first, id := login(t, svc, keys, "rotating")
	second, err := svc.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	if second.Refresh == first.Refresh || second.Access == first.Access {
		t.Fatal("a refresh must hand out new tokens")
	}
	next, err := keys.Verify(second.Access)
	if err != nil || next.UserID != id.UserID || next.Username != "rotating" {
		t.Fatalf("the refreshed token speaks for %+v (%v)", next, err)
	}
	third, err := svc.Refresh(ctx, second.Refresh)
	if err != nil {
		t.Fatalf("the rotated refresh token: %v", err)
	}
	if revoked, _ := revokedIDs(t, svc); len(revoked) != 0 {
		t.Fatalf("honest refreshes revoked %v", revoked)
	}

	// The first token comes back: someone holds a copy. The whole family goes, and its access
	// tokens with it.
	if _, err := svc.Refresh(ctx, first.Refresh); !errors.Is(err, account.ErrRefreshReused) {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := svc.Refresh(ctx, third.Refresh); !errors.Is(err, account.ErrBadRefresh) {
		t.Fatalf("the family's newest token after a reuse: %v", err)
	}
	revoked, _ := revokedIDs(t, svc)
	thirdID, _ := keys.Verify(third.Access)
	for _, jti := range []string{id.TokenID, next.TokenID, thirdID.TokenID} {
		if !slices.Contains(revoked, jti) {
			t.Errorf("access token %s of the family is not revoked (%v)", jti, revoked)
		}
	}

	// Another login is another family: untouched.
	other, _ := login(t, svc, keys, "rotating")
	if _, err := svc.Refresh(ctx, other.Refresh); err != nil {
		t.Fatalf("another session of the same user: %v", err)
	}
}

func TestRefreshRejects(t *testing.T) {
	svc, keys, _ := accounttest.NewServiceWith(t, accounttest.Options{RefreshTTL: 50 * time.Millisecond})
	ctx := context.Background()
	tokens, _ := login(t, svc, keys, "short_lived")
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"unknown", "bm90IGEgcmVmcmVzaCB0b2tlbiBhdCBhbGwsIHJlYWxseQ"},
		{"too long", string(make([]byte, 300))},
		{"the access token", tokens.Access},
	} {
		if _, err := svc.Refresh(ctx, tc.token); !errors.Is(err, account.ErrBadRefresh) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	time.Sleep(60 * time.Millisecond) // the refresh token's lifetime passes
	if _, err := svc.Refresh(ctx, tokens.Refresh); !errors.Is(err, account.ErrBadRefresh) {
		t.Fatalf("expired refresh token: %v", err)
	}
}

// TestConcurrentRefresh: one refresh token sent twice at once (a retry racing the first try,
// or a thief racing the owner) works once; the other use counts as reuse.
// readTogether holds every SessionByHash until n callers have read, so that all of them see the
// session unspent and then race to rotate it: the path where the loser learns of the reuse
// only from the store (ErrSessionUsed).
type readTogether struct {
	account.SessionStore
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (r *readTogether) SessionByHash(ctx context.Context, hash string) (account.Session, error) {
	s, err := r.SessionStore.SessionByHash(ctx, hash)
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.n {
		close(r.all)
	}
	r.mu.Unlock()
	select {
	case <-r.all:
	case <-time.After(10 * time.Second):
	}
	return s, err
}

// TestConcurrentRefresh: eight uses of one refresh token at once, each having read it unspent:
// one gets new tokens, the others learn from the store that it was spent meanwhile, which is a
// reuse: the family is revoked, the winner's new refresh token included.
func TestConcurrentRefresh(t *testing.T) {
	const n = 8
	svc, keys, _ := accounttest.NewServiceWith(t, accounttest.Options{Sessions: func(s account.SessionStore) account.SessionStore {
		return &readTogether{SessionStore: s, n: n, all: make(chan struct{})}
	}})
	tokens, _ := login(t, svc, keys, "racing")
	var wg sync.WaitGroup
	results := make([]error, n)
	var winner account.Tokens
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next, err := svc.Refresh(context.Background(), tokens.Refresh)
			if results[i] = err; err == nil {
				winner = next
			}
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		switch {
		case err == nil:
			won++
		case errors.Is(err, account.ErrRefreshReused), errors.Is(err, account.ErrBadRefresh):
			// Reused, or found its family revoked by another loser already.
		default:
			t.Fatalf("a use that read the token unspent: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d uses of one refresh token worked, want 1", won, n)
	}
	if _, err := svc.Refresh(context.Background(), winner.Refresh); !errors.Is(err, account.ErrBadRefresh) {
		t.Fatalf("the winner's refresh token after the reuse: %v, want refused (family revoked)", err)
	}
}

func TestLogout(t *testing.T) {
	var r recorder
	svc, keys, _ := accounttest.NewServiceWith(t, accounttest.Options{Notifier: &r})
	ctx := context.Background()
	tokens, id := login(t, svc, keys, "leaving")
	other, otherID := login(t, svc, keys, "staying")

	// Naming someone else's refresh token is refused, and still logs the caller out.
	_, wrongID := login(t, svc, keys, "leaving")
	if err := svc.Logout(ctx, wrongID, other.Refresh); !errors.Is(err, account.ErrNotYours) {
		t.Fatalf("logging out someone else's session: %v", err)
	}
	if revoked, _ := revokedIDs(t, svc); !slices.Contains(revoked, wrongID.TokenID) {
		t.Fatalf("a logout naming another's refresh token left the caller's token unrevoked: %v", revoked)
	}
	if err := svc.Logout(ctx, auth.Identity{UserID: id.UserID}, ""); !errors.Is(err, account.ErrNoCaller) {
		t.Fatalf("logout without a token id: %v", err)
	}
	if err := svc.Logout(ctx, id, tokens.Refresh); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Refresh(ctx, tokens.Refresh); !errors.Is(err, account.ErrBadRefresh) {
		t.Fatalf("refresh after logout: %v", err)
	}
	revoked, _ := revokedIDs(t, svc)
	if !slices.Contains(revoked, id.TokenID) || slices.Contains(revoked, otherID.TokenID) {
		t.Fatalf("revoked %v; want %s and not %s", revoked, id.TokenID, otherID.TokenID)
	}
	if _, err := svc.Refresh(ctx, other.Refresh); err != nil {
		t.Fatalf("the other user's session: %v", err)
	}
	if !slices.Contains(r.events, "revoked "+itoa(id.UserID)) {
		t.Fatalf("no revocation event: %q", r.events)
	}
	// Logging out twice, or with a spent token, is no error.
	if err := svc.Logout(ctx, id, tokens.Refresh); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	// An identity that does not say when its token expires is revoked for as long as a token
	// can live, not until 1970.
	if err := svc.Logout(ctx, auth.Identity{UserID: otherID.UserID, TokenID: "no-expiry"}, ""); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := revokedIDs(t, svc); !slices.Contains(revoked, "no-expiry") {
		t.Fatalf("a token without an expiry was not revoked: %v", revoked)
	}
}

func TestDelete(t *testing.T) {
	var r recorder
	svc, keys, _ := accounttest.NewServiceWith(t, accounttest.Options{Notifier: &r})
	ctx := context.Background()
	tokens, id := login(t, svc, keys, "doomed")

	for _, tc := range []struct {
		name     string
		caller   auth.Identity
		password string
		want     func(error) bool
	}{
		{"no caller", auth.Identity{}, "password-doomed", func(err error) bool { return errors.Is(err, account.ErrNoCaller) }},
		{"no password", id, "", func(err error) bool { var e *account.InvalidInputError; return errors.As(err, &e) }},
		{"wrong password", id, "password-wrong", func(err error) bool { return errors.Is(err, account.ErrBadCredentials) }},
	} {
		if err := svc.Delete(ctx, tc.caller, tc.password); !tc.want(err) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := svc.Profile(ctx, id.UserID); err != nil {
		t.Fatalf("a refused deletion deleted: %v", err)
	}

	if err := svc.Delete(ctx, id, "password-doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Profile(ctx, id.UserID); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("profile after deletion: %v", err)
	}
	if _, err := svc.Refresh(ctx, tokens.Refresh); !errors.Is(err, account.ErrBadRefresh) {
		t.Fatalf("refresh after deletion: %v", err)
	}
	_, users := revokedIDs(t, svc)
	if cut, ok := users[id.UserID]; !ok || id.TokenIssuedAt >= cut {
		t.Fatalf("the deleted user's tokens (iat %d) are not revoked: %v", id.TokenIssuedAt, users)
	}
	if !slices.Contains(r.events, "deleted "+itoa(id.UserID)) {
		t.Fatalf("no deletion event: %q", r.events)
	}

	// The name is free again, for a new account with a new id.
	_, again := login(t, svc, keys, "doomed")
	if again.UserID == id.UserID {
		t.Fatalf("the new account took the deleted one's id %d", id.UserID)
	}
	if err := svc.Delete(ctx, id, "password-doomed"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("deleting a deleted account: %v", err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

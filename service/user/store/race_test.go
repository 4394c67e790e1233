package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// TestRevocationWinsEveryRaceWithARotation: a thief holding a refresh token refreshes as fast
// as it can while the owner logs out, or while the owner's copy of a spent token comes back
// (theft detection). Whenever the revocation lands, the family ends revoked whole: the
// thief's chain breaks at its next refresh and no session of the family is left usable. 24
// races of each kind, on every store.
func TestRevocationWinsEveryRaceWithARotation(t *testing.T) {
	const races = 24
	for name, users := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			svc := newAccounts(t, users)
			if _, err := svc.Register(context.Background(), "owner", "the password", ""); err != nil {
				t.Fatal(err)
			}
			for _, kind := range []string{"logout", "reuse"} {
				survived := 0
				for race := range races {
					if problem := raceOnce(t, svc, users, kind); problem != "" {
						survived++
						t.Errorf("%s race %d: %s", kind, race, problem)
					}
				}
				t.Logf("%s: %d of %d families survived a refresh racing the revocation", kind, survived, races)
			}
		})
	}
}

// raceOnce runs one race and says what survived it ("" when nothing did).
func raceOnce(t *testing.T, svc *account.Service, users *Users, kind string) string {
	ctx := context.Background()
	first, u, err := svc.Login(ctx, "owner", "the password")
	if err != nil {
		t.Fatal(err)
	}
	// The owner's copy is spent by the thief's first refresh: it is what a reuse sends again.
	stolen, err := svc.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	family := familyOf(t, users, first.Refresh)
	const most = 300 // refreshes the thief tries; a surviving family gives all of them
	var (
		wg     sync.WaitGroup
		latest = stolen.Refresh
		chain  int
		broke  error
	)
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for chain = 0; chain < most; chain++ {
			if chain == 2 {
				close(started)
			}
			next, err := svc.Refresh(ctx, latest)
			if err != nil {
				broke = err
				break
			}
			latest = next.Refresh
		}
		if chain < 2 {
			close(started)
		}
	}()
	<-started
	// Not a synchronisation: a random offset, so that the revocation lands at every point of
	// a rotation across the races.
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	switch kind {
	case "logout":
		caller := auth.Identity{UserID: u.ID, Username: u.Username, TokenID: "owner-token", TokenExpires: time.Now().Add(time.Hour).Unix()}
		if err := svc.Logout(ctx, caller, first.Refresh); err != nil {
			t.Fatalf("logout: %v", err)
		}
	case "reuse":
		if _, err := svc.Refresh(ctx, first.Refresh); !errors.Is(err, account.ErrRefreshReused) {
			t.Fatalf("reuse of a spent token: %v, want ErrRefreshReused", err)
		}
	}
	wg.Wait()
	var live int64
	if err := users.db.Model(&sessionRow{}).Where("family = ? AND revoked_at IS NULL", family).Count(&live).Error; err != nil {
		t.Fatal(err)
	}
	switch {
	case broke == nil:
		return "the thief refreshed " + strconv.Itoa(most) + " times after the revocation"
	case live > 0:
		return strconv.FormatInt(live, 10) + " session(s) of the family left unrevoked"
	case !errors.Is(broke, account.ErrBadRefresh) && !errors.Is(broke, account.ErrRefreshReused):
		t.Fatalf("the thief's chain broke with %v", broke)
	}
	if _, err := svc.Refresh(ctx, latest); err == nil {
		return "the thief's latest refresh token still works"
	}
	return ""
}

func familyOf(t *testing.T, users *Users, refresh string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(refresh))
	session, err := users.SessionByHash(context.Background(), hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return session.Family
}

func newAccounts(t *testing.T, users *Users) *account.Service {
	t.Helper()
	keys, err := auth.NewKeys(auth.Config{VerifyConfig: auth.VerifyConfig{Secret: strings.Repeat("k", 32), Issuer: "test"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	hashing, err := account.NewHashing(bcrypt.MinCost, 2)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := account.NewService(account.Deps{Store: users, Sessions: users, Tokens: keys,
		Hashing: hashing, RefreshTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

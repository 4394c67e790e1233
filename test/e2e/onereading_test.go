package e2e

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// TestTheLockHoldsAgainstEveryTrick replays, against the real stack with the default lock (10
// wrong passwords), the attacks that once got past it, and prints the figures: how many
// guesses reached the user service before the first 429.
//   - A second spelling of "username" beside the real one, which the limiter read and the
//     service ignored: now refused as a whole (400), whatever the spelling.
//   - One Idempotency-Key on every guess, which made the lock count them once.
//   - Wrong passwords at /user/delete with a stolen access token, which nothing limited.
//   - "username" in a refresh, which locked any account without a guess.
func TestTheLockHoldsAgainstEveryTrick(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{
		"LIMITS_TRUSTED_PROXIES=127.0.0.1", "LIMITS_IP_RATE=1000", "LIMITS_IP_BURST=1000",
		"LIMITS_USERNAME_RATE=1000", "LIMITS_USERNAME_BURST=1000",
	}})
	c := newClient(t, s.GatewayURL)
	from := func(i int) string { return fmt.Sprintf("X-Forwarded-For: 198.51.100.%d", 1+i%2) }
	// guessUntilLocked sends wrong passwords until a 429 (at most 50) and says how many
	// reached the service (401) first.
	guessUntilLocked := func(send func(i int) answer) (reached int, locked bool) {
		for i := range 50 {
			switch a := send(i); a.Status {
			case 401:
				reached++
			case 429:
				return reached, true
			default:
				t.Fatalf("guess %d: %d %s", i, a.Status, a.Raw)
			}
		}
		return reached, false
	}

	t.Run("another spelling of username", func(t *testing.T) {
		c.signup("spelled_e2e")
		refused := 0
		for i, key := range []string{"Username", "USERNAME", "userName", "username ", "user_name"} {
			for j := range 10 {
				body := fmt.Sprintf(`{"username":"spelled_e2e","password":"guess-%d-%d","%s":"%s"}`, i, j, key, rand.Text())
				a := c.do("POST", "/user/login", body, from(j))
				if a.Status != 400 || a.Str("reason") != "INVALID_ARGUMENT" {
					t.Fatalf("%s: %d %s, want 400 INVALID_ARGUMENT", body, a.Status, a.Raw)
				}
				refused++
			}
		}
		t.Logf("%d guesses with a second spelling of username: all 400, none reached the service", refused)
		if a := c.login("spelled_e2e", "password-spelled_e2e"); a.Status != 200 {
			t.Fatalf("the owner after the refused guesses: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("one Idempotency-Key on every guess", func(t *testing.T) {
		c.signup("keyed_e2e")
		reached, locked := guessUntilLocked(func(i int) answer {
			return c.do("POST", "/user/login", credentials("keyed_e2e", fmt.Sprintf("guess-%d", i)), from(i), "Idempotency-Key: k1")
		})
		t.Logf("guesses sharing one Idempotency-Key that reached the service before a 429: %d", reached)
		if !locked || reached != 10 {
			t.Fatalf("%d guesses reached the service, locked %v; want 10, then 429", reached, locked)
		}
		if a := c.do("POST", "/user/login", credentials("keyed_e2e", "password-keyed_e2e"), from(0), "Idempotency-Key: k1"); a.Status != 429 {
			t.Fatalf("the right password during the lock: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("wrong passwords at /user/delete", func(t *testing.T) {
		token := c.signup("deleted_e2e")
		reached, locked := guessUntilLocked(func(i int) answer {
			return c.do("POST", "/user/delete", fmt.Sprintf(`{"password":"guess-%d"}`, i), from(i), "Authorization: Bearer "+token)
		})
		t.Logf("password guesses at /user/delete with a stolen token before a 429: %d", reached)
		if !locked || reached != 10 {
			t.Fatalf("%d guesses reached the service, locked %v; want 10, then 429", reached, locked)
		}
		if a := c.login("deleted_e2e", "password-deleted_e2e"); a.Status != 429 {
			t.Fatalf("a login during the lock the delete guesses caused: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("username in a refresh", func(t *testing.T) {
		c.signup("refreshed_e2e")
		for i := range 11 {
			if a := c.do("POST", "/user/refresh", `{"refresh_token":"junk","username":"refreshed_e2e"}`, from(i)); a.Status != 400 {
				t.Fatalf("a refresh naming a username: %d %s, want 400", a.Status, a.Raw)
			}
			if a := c.do("POST", "/user/refresh", `{"refresh_token":"junk"}`, from(i)); a.Status != 401 {
				t.Fatalf("a bad refresh: %d %s, want 401", a.Status, a.Raw)
			}
		}
		if a := c.login("refreshed_e2e", "password-refreshed_e2e"); a.Status != 200 {
			t.Fatalf("the owner after 22 failed refreshes: %d %s", a.Status, a.Raw)
		}
	})
}

// Package limits keeps a flood of logins and registrations from reaching the user service:
// token buckets per client IP and per account and route, and a growing lock on an account after
// repeated wrong passwords (Keycloak's brute-force detection: a failure count, a wait that grows
// by an increment every threshold failures up to a maximum, forgotten after a quiet period).
// The state lives in each gateway's memory: with several gateways the limits are per gateway.
package limits

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomicro-stack/gomicro-stack/gateway/edge"
	"github.com/gomicro-stack/gomicro-stack/internal/envelope"
	"github.com/gomicro-stack/gomicro-stack/internal/lockout"
)

// Config is the limits' settings.
type Config struct {
	// Paths are the limited routes. On each, a request counts against its client address and
	// against the account it is about (the request's subject, see package request), and a
	// locked account is refused; a wrong password (BAD_CREDENTIALS) on any of them counts
	// towards the account's lock.
	Paths []string `mapstructure:"paths" default:"/user/login,/user/register,/user/refresh,/user/delete" refresh:"true" usage:"routes limited per client IP and per account (the request's subject field, else the caller); their wrong passwords count towards the account's lock"`
	// IPRate requests a second per client IP, with bursts of IPBurst.
	IPRate  float64 `mapstructure:"ip_rate" default:"5.0" refresh:"true" usage:"requests a second per client IP on the limited routes"`
	IPBurst int     `mapstructure:"ip_burst" default:"30" refresh:"true" usage:"burst of requests per client IP"`
	// UsernameRate requests a second per account on each route, with bursts of UsernameBurst.
	UsernameRate  float64 `mapstructure:"username_rate" default:"0.5" refresh:"true" usage:"requests a second per account on each limited route"`
	UsernameBurst int     `mapstructure:"username_burst" default:"10" refresh:"true" usage:"burst of requests per account on each limited route"`
	// Lockout locks an account after repeated wrong passwords (limits.login_failures, ...).
	lockout.Config `mapstructure:",squash"`
	// TrustedProxies are the addresses (CIDR or IP) whose X-Forwarded-For is believed: the
	// client is the last address in it that is not a trusted proxy.
	TrustedProxies []string `mapstructure:"trusted_proxies" refresh:"true" usage:"CIDRs of proxies whose X-Forwarded-For names the client (e.g. nginx)"`
	// MaxTracked bounds the IPs and usernames held in memory, each.
	MaxTracked int `mapstructure:"max_tracked" default:"100000" usage:"client IPs and usernames tracked, each (memory bound)"`
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	_, err := c.prepare()
	return err
}

// prepare checks c and returns it in the form the limiter uses.
func (c Config) prepare() (*settings, error) {
	switch {
	case c.IPRate <= 0 || c.UsernameRate <= 0 || c.IPBurst < 1 || c.UsernameBurst < 1:
		return nil, fmt.Errorf("limits: rates (%g, %g) must be positive and bursts (%d, %d) at least 1", c.IPRate, c.UsernameRate, c.IPBurst, c.UsernameBurst)
	case c.MaxTracked < 1:
		return nil, fmt.Errorf("limits.max_tracked %d: want at least 1", c.MaxTracked)
	}
	if err := c.Lockout().Validate(); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	proxies, err := parsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &settings{Config: c, paths: map[string]bool{}, proxies: proxies}
	for _, p := range c.Paths {
		s.paths[edge.CleanPath(p)] = true
	}
	return s, nil
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			addr, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("limits.trusted_proxies %q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("limits.trusted_proxies %q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// settings is a Config in the form the limiter uses it.
type settings struct {
	Config
	paths   map[string]bool
	proxies []netip.Prefix
}

// Limiter applies the limits; it is safe for concurrent use.
type Limiter struct {
	current atomic.Pointer[settings]
	ips     *table
	// usernames holds the buckets of an account on a route (see bucketKey), accounts the
	// wrong passwords and locks of an account.
	usernames *table
	accounts  *lockout.Lockout
	now       func() time.Time
}

// Lockout is the part of c that locks accounts.
func (c Config) Lockout() lockout.Config { return c.Config }

// New returns a limiter with c, which must be valid.
func New(c Config) (*Limiter, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{ips: newTable(c.MaxTracked), usernames: newTable(c.MaxTracked), now: time.Now}
	// The lockout reads the limiter's clock, which tests set.
	accounts, err := lockout.New(c.Lockout(), c.MaxTracked, func() time.Time { return l.now() })
	if err != nil {
		return nil, err
	}
	l.accounts = accounts
	if err := l.Update(c); err != nil {
		return nil, err
	}
	return l, nil
}

// Update applies new settings; the state (buckets, failures, locks) is kept.
func (l *Limiter) Update(c Config) error {
	s, err := c.prepare()
	if err != nil {
		return err
	}
	if err := l.accounts.Update(c.Lockout()); err != nil {
		return err
	}
	l.current.Store(s)
	return nil
}

// Verdict is the limiter's answer to one request.
type Verdict struct {
	// Allowed is false when the request is to be refused with 429 after RetryAfter.
	Allowed    bool
	RetryAfter time.Duration
	Reason     string
}

// Admit decides on a request to path from client about account (the request's subject,
// canonical; "" if it names none).
func (l *Limiter) Admit(path, client, account string) Verdict {
	s := l.current.Load()
	path = edge.CleanPath(path)
	if !s.paths[path] {
		return Verdict{Allowed: true}
	}
	now := l.now()
	if account != "" {
		if wait := l.accounts.LockedFor(account); wait > 0 {
			return Verdict{RetryAfter: wait, Reason: "too many wrong passwords for this account; try again later"}
		}
	}
	if wait := l.ips.take(addressKey(client), s.IPRate, s.IPBurst, now); wait > 0 {
		return Verdict{RetryAfter: wait, Reason: "too many requests from this address; slow down"}
	}
	if account != "" {
		if wait := l.usernames.take(bucketKey(path, account), s.UsernameRate, s.UsernameBurst, now); wait > 0 {
			return Verdict{RetryAfter: wait, Reason: "too many requests for this account; slow down"}
		}
	}
	return Verdict{Allowed: true}
}

// bucketKey is the bucket of an account on one route: registrations for a name, say, do not
// use up the logins of the account that has it.
func bucketKey(path, account string) string { return path + "\x00" + account }

// PasswordFailed counts a wrong password for account. Every one counts, whatever the request
// carried besides: nothing a client adds (an Idempotency-Key, a header) makes two wrong
// guesses one.
func (l *Limiter) PasswordFailed(account string) { l.accounts.Failed(account) }

// Succeeded forgets the account's wrong passwords, as Keycloak does after a login.
func (l *Limiter) Succeeded(account string) { l.accounts.Succeeded(account) }

// ClientIP is the client's address: the peer, or, when the peer is a trusted proxy, the last
// address in X-Forwarded-For that is not one.
func (l *Limiter) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	s := l.current.Load()
	if len(s.proxies) == 0 || !trusted(s.proxies, host) {
		return host
	}
	client := host
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			// What a client wrote itself is not an address we can hold it to.
			break
		}
		client = hop
		if !trusted(s.proxies, hop) {
			break
		}
	}
	return client
}

// addressKey is the bucket of a client address: the address itself for IPv4, its /64 for IPv6,
// since one IPv6 host commonly holds a whole /64 and could otherwise take a fresh address for
// every request.
func addressKey(client string) string {
	addr, err := netip.ParseAddr(client)
	if err != nil || addr.Unmap().Is4() {
		return client
	}
	prefix, _ := addr.Prefix(64)
	return prefix.String()
}

func trusted(proxies []netip.Prefix, host string) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// RetryAfterSeconds is the Retry-After value of a wait: whole seconds, at least 1.
func RetryAfterSeconds(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// Refuse answers 429 with Retry-After and the envelope.
func Refuse(w http.ResponseWriter, v Verdict) {
	w.Header().Set("Retry-After", RetryAfterSeconds(v.RetryAfter))
	envelope.Write(w, http.StatusTooManyRequests, v.Reason)
}

// table holds one kind of key's token buckets.
type table struct {
	mu      sync.Mutex
	max     int
	entries map[string]*entry
}

type entry struct {
	tokens   float64
	refilled time.Time // when tokens was computed
	full     time.Time // when the bucket is full again: the entry holds nothing before then
}

func newTable(max int) *table { return &table{max: max, entries: map[string]*entry{}} }

// get returns key's entry, making room for it if the table is full.
func (t *table) get(key string, now time.Time, create bool) *entry {
	e := t.entries[key]
	if e != nil || !create {
		return e
	}
	if len(t.entries) >= t.max {
		t.evict(now)
	}
	e = &entry{tokens: -1}
	t.entries[key] = e
	return e
}

// evict drops every entry that holds nothing (a full bucket), then
// arbitrary ones, whose keys start afresh, until an eighth of the table is free: bounding
// memory matters more than one key's history, and freeing a batch keeps a flood of fresh keys
// from paying a scan of the whole table for each one.
func (t *table) evict(now time.Time) {
	for k, e := range t.entries {
		if !now.Before(e.full) {
			delete(t.entries, k)
		}
	}
	keep := t.max - max(1, t.max/8)
	for k := range t.entries {
		if len(t.entries) <= keep {
			return
		}
		delete(t.entries, k)
	}
}

// take takes a token from key's bucket and returns 0, or how long until one is there.
func (t *table) take(key string, rate float64, burst int, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.get(key, now, true)
	if e.tokens < 0 {
		e.tokens, e.refilled = float64(burst), now
	}
	e.tokens = math.Min(float64(burst), e.tokens+now.Sub(e.refilled).Seconds()*rate)
	e.refilled = now
	if e.tokens < 1 {
		return time.Duration((1 - e.tokens) / rate * float64(time.Second))
	}
	e.tokens--
	e.full = now.Add(time.Duration((float64(burst) - e.tokens) / rate * float64(time.Second)))
	return 0
}

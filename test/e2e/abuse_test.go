package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// tally counts answers by status with their latencies, for the figures the abuse tests print.
type tally struct {
	mu        sync.Mutex
	byStatus  map[int][]time.Duration
	transport []string // requests that got no HTTP answer at all
}

func newTally() *tally { return &tally{byStatus: map[int][]time.Duration{}} }

func (t *tally) add(status int, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byStatus[status] = append(t.byStatus[status], took)
}

func (t *tally) failed(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.transport = append(t.transport, err.Error())
}

func (t *tally) count(status int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byStatus[status])
}

// slowest is the longest time any answer took.
func (t *tally) slowest() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var most time.Duration
	for _, ds := range t.byStatus {
		for _, d := range ds {
			most = max(most, d)
		}
	}
	return most
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, status := range slices.Sorted(mapsKeys(t.byStatus)) {
		ds := slices.Clone(t.byStatus[status])
		slices.Sort(ds)
		parts = append(parts, fmt.Sprintf("%d × %d (p50 %s, p99 %s, max %s)", len(ds), status,
			ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)*99/100].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond)))
	}
	if len(t.transport) > 0 {
		parts = append(parts, fmt.Sprintf("%d without an answer (first: %s)", len(t.transport), t.transport[0]))
	}
	return strings.Join(parts, ", ")
}

func mapsKeys(m map[int][]time.Duration) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// send sends req and records its answer.
func (t *tally) send(client *http.Client, req *http.Request) *http.Response {
	began := time.Now()
	rsp, err := client.Do(req)
	if err != nil {
		t.failed(err)
		return nil
	}
	io.Copy(io.Discard, rsp.Body)
	rsp.Body.Close()
	t.add(rsp.StatusCode, time.Since(began))
	return rsp
}

// TestMalformedRequestsCannotOpenBreakers: a thousand requests with one invalid UTF-8 byte
// each (in the query, a header, a cookie, the JSON body, a form body), to login and to hello
// with a valid token, all answered 400 at the edge; then a correct login and a hello work.
// Before the edge check, about 20 of them opened the user service's breaker for everyone.
func TestMalformedRequestsCannotOpenBreakers(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	token := c.signup("malformed_e2e")
	kinds := []func(path string) *http.Request{
		func(path string) *http.Request {
			return jsonRequest(path+"?x=%ff", credentials("malformed_e2e", "password-malformed_e2e"))
		},
		func(path string) *http.Request {
			r := jsonRequest(path, credentials("malformed_e2e", "password-malformed_e2e"))
			r.Header.Set("X-Note", "caf\xe9")
			return r
		},
		func(path string) *http.Request {
			r := jsonRequest(path, credentials("malformed_e2e", "password-malformed_e2e"))
			r.Header.Set("Cookie", "session=\xff\xfe")
			return r
		},
		func(path string) *http.Request {
			return jsonRequest(path, "{\"username\":\"malformed_e2e\",\"password\":\"\xff\",\"name\":\"\xc3\"}")
		},
		func(path string) *http.Request {
			r := jsonRequest(path, "username=%ff&name=%ff")
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
	}
	answers := newTally()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 20}}
	const total, workers = 1000, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				path := "/user/login"
				if i%2 == 1 {
					path = "/greeter/hello"
				}
				req := kinds[i%len(kinds)](path)
				req.Header.Set("Authorization", "Bearer "+token)
				answers.send(client, req)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d malformed requests: %s", total, answers)
	if answers.count(400) != total {
		t.Fatalf("want %d × 400: %s", total, answers)
	}
	if open := openBreakers(t, shared); len(open) > 0 {
		t.Fatalf("open breakers in the gateway after the flood: %v", open)
	}
	if a := c.login("malformed_e2e", "password-malformed_e2e"); a.Status != 200 {
		t.Fatalf("a correct login after the flood: %d %s (the user service's breaker opened?)", a.Status, a.Raw)
	}
	if a := c.hello(token, "Bob"); a.Status != 200 || a.Body["degraded"] == true {
		t.Fatalf("a hello after the flood: %d %s", a.Status, a.Raw)
	}
	// Valid text that gRPC metadata cannot carry is not forwarded, and costs the call nothing.
	if a := c.hello(token, "Bob", "X-Note: café", "X-Odd!: 1"); a.Status != 200 {
		t.Fatalf("a hello with headers gRPC cannot carry: %d %s", a.Status, a.Raw)
	}
	t.Log("after the flood: no breaker open in the gateway's /metrics, login 200, hello 200 and not degraded")
}

// openBreakers lists the gateway's breakers that its /metrics reports open.
func openBreakers(t *testing.T, s *stack.Stack) []string {
	t.Helper()
	rsp, err := http.Get(s.GatewayMetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	body, _ := io.ReadAll(rsp.Body)
	var open []string
	for _, line := range strings.Split(string(body), "\n") {
		if command, ok := strings.CutPrefix(line, `gomicro_breaker_open{command="`); ok && strings.HasSuffix(line, "} 1") {
			open = append(open, strings.TrimSuffix(command, `"} 1`))
		}
	}
	if !strings.Contains(string(body), "gomicro_breaker_open{") {
		t.Fatalf("the gateway's metrics report no breaker")
	}
	return open
}

func jsonRequest(url, body string) *http.Request {
	r, err := http.NewRequest("POST", shared.GatewayURL+url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestRegistrationFlood: 400 registrations at once. bcrypt runs on one worker per CPU; what
// cannot be hashed before the deadline is refused at once with 503 and Retry-After, so every
// answer comes within 5 s, those admitted are created, and the gateway's breaker for the user
// service stays closed (a login right after succeeds). Before, all 400 ran their hashes
// together and all answered 504 after 5 s, with no account created.
func TestRegistrationFlood(t *testing.T) {
	s := ownStack(t, stack.Config{})
	// What one bcrypt hash at the service's cost (10) takes on this machine now.
	began := time.Now()
	bcrypt.GenerateFromPassword([]byte("measure"), 10)
	hashTime := time.Since(began)

	c := newClient(t, s.GatewayURL)
	c.signup("flood_owner_e2e")
	const flood = 400
	answers := newTally()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: flood, MaxConnsPerHost: flood}}
	var retryAfter sync.Map
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", s.GatewayURL+"/user/register", strings.NewReader(credentials(fmt.Sprintf("flood%d_e2e", i), "password-flood")))
			req.Header.Set("Content-Type", "application/json")
			<-start
			if rsp := answers.send(client, req); rsp != nil && rsp.StatusCode == 503 {
				retryAfter.Store(rsp.Header.Get("Retry-After"), true)
			}
		}()
	}
	flooded := time.Now()
	close(start)
	wg.Wait()
	window := time.Since(flooded)
	created := answers.count(201)
	workers := runtime.NumCPU()
	t.Logf("%d registrations at once: %s; all answered in %s", flood, answers, window.Round(time.Millisecond))
	t.Logf("created %d = %.1f a second, %.2f per CPU per bcrypt time (%d CPUs, one hash %s here)",
		created, float64(created)/window.Seconds(), float64(created)/(window.Seconds()/hashTime.Seconds())/float64(workers), workers, hashTime.Round(time.Millisecond))
	for status := range answers.byStatus {
		if status != 201 && status != 503 && status != 429 {
			t.Errorf("unexpected answers: %s", answers)
			break
		}
	}
	if len(answers.transport) > 0 {
		t.Errorf("requests without an answer: %s", answers)
	}
	// The service answers before the gateway's 5 s deadline (no 504 above); what the client
	// measures adds the way back, which a loaded machine can stretch.
	if slowest := answers.slowest(); slowest > 5*time.Second+500*time.Millisecond {
		t.Errorf("the slowest answer took %s, want every answer within the 5s deadline", slowest)
	}
	if created < workers {
		t.Errorf("%d accounts created, want at least one per CPU (%d)", created, workers)
	}
	if n := answers.count(503); n > 0 {
		if _, ok := retryAfter.Load("1"); !ok {
			t.Errorf("503 answers without Retry-After: 1")
		}
	}
	if open := openBreakers(t, s); len(open) > 0 {
		t.Errorf("open breakers in the gateway after the flood: %v", open)
	}
	if a := c.login("flood_owner_e2e", "password-flood_owner_e2e"); a.Status != 200 {
		t.Fatalf("login right after the flood: %d %s (breaker open?)", a.Status, a.Raw)
	}
	t.Log("after the flood the gateway's /metrics shows no breaker open, and a login succeeds")
}

// TestBruteForceLocksTheUsername: 200 wrong passwords for one account, each from another
// address (a botnet; the gateway trusts 127.0.0.1 to name the client in X-Forwarded-For), are
// answered 429 after the threshold; the owner logs in once the lock is over; another user
// logs in throughout; and one address sending too fast is slowed down on its own.
func TestBruteForceLocksTheUsername(t *testing.T) {
	s := ownStack(t, stack.Config{Env: []string{
		"LIMITS_TRUSTED_PROXIES=127.0.0.1", "LIMITS_IP_RATE=1", "LIMITS_IP_BURST=5",
		"LIMITS_LOGIN_FAILURES=5", "LIMITS_LOCK_INCREMENT=2s", "LIMITS_LOCK_MAX=4s",
		"LOCKOUT_LOGIN_FAILURES=5", "LOCKOUT_LOCK_INCREMENT=2s", "LOCKOUT_LOCK_MAX=4s",
	}})
	c := newClient(t, s.GatewayURL)
	from := func(i int) string { return fmt.Sprintf("X-Forwarded-For: 203.0.%d.%d", i/250, 1+i%250) }
	if a := c.do("POST", "/user/register", credentials("victim_e2e", "the real password"), from(1000)); a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	if a := c.do("POST", "/user/register", credentials("bystander_e2e", "another password"), from(1001)); a.Status != 201 {
		t.Fatalf("register: %d %s", a.Status, a.Raw)
	}
	answers := newTally()
	began := time.Now()
	for i := range 200 {
		t0 := time.Now()
		a := c.do("POST", "/user/login", credentials("Victim_E2E", fmt.Sprintf("guess %d", i)), from(i))
		answers.add(a.Status, time.Since(t0))
		switch a.Status {
		case 401:
		case 429:
			expectError(t, a, 429, "")
			if _, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil {
				t.Fatalf("429 without Retry-After: %v", a.Header)
			}
		default:
			t.Fatalf("guess %d: %d %s", i, a.Status, a.Raw)
		}
		if i == 100 {
			if a := c.do("POST", "/user/login", credentials("bystander_e2e", "another password"), from(2000)); a.Status != 200 {
				t.Fatalf("another user during the attack: %d %s", a.Status, a.Raw)
			}
		}
	}
	elapsed := time.Since(began)
	t.Logf("200 wrong passwords for one username in %s: %s", elapsed.Round(time.Millisecond), answers)
	// 5 failures lock for 2 s, 10 for 4 s (the maximum): a few rounds of 5 reach the service
	// in the time the attack takes, however fast it is.
	rounds := 1 + int(elapsed/(2*time.Second))
	if n := answers.count(401); n < 5 || n > 5*rounds {
		t.Fatalf("%d guesses reached the user service in %s, want 5 to %d", n, elapsed, 5*rounds)
	}
	// The owner is locked out too for now, then logs in.
	var locked answer
	if locked = c.do("POST", "/user/login", credentials("victim_e2e", "the real password"), from(3000)); locked.Status == 429 {
		t.Logf("the owner during the lock: 429, Retry-After %s", locked.Header.Get("Retry-After"))
	}
	if err := stack.Eventually(10*time.Second, 200*time.Millisecond, func() error {
		if a := c.do("POST", "/user/login", credentials("victim_e2e", "the real password"), from(3000)); a.Status != 200 {
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
		return nil
	}); err != nil {
		t.Fatalf("the owner could not log in after the lock: %v", err)
	}
	t.Logf("the owner logged in %s after the attack", time.Since(began.Add(elapsed)).Round(time.Millisecond))

	// One address over its rate (1/s, bursts of 5) is refused; the next address is not.
	perIP := newTally()
	for range 10 {
		a := c.do("POST", "/user/login", credentials("bystander_e2e", "another password"), "X-Forwarded-For: 198.51.100.7")
		perIP.add(a.Status, 0)
	}
	t.Logf("10 logins in a row from one address: %s", perIP)
	if perIP.count(429) == 0 || perIP.count(200) == 0 {
		t.Fatalf("want the burst answered 200 and the rest 429: %s", perIP)
	}
	if a := c.do("POST", "/user/login", credentials("bystander_e2e", "another password"), "X-Forwarded-For: 198.51.100.8"); a.Status != 200 {
		t.Fatalf("another address: %d %s", a.Status, a.Raw)
	}
}

// TestSlowClientsAreCutOff: 200 slowloris connections (headers sent a byte at a time, never
// finished) are closed within the header timeout, and 1000 idle keep-alive connections within
// the idle timeout, while hellos keep being answered.
func TestSlowClientsAreCutOff(t *testing.T) {
	const headerTimeout, idleTimeout = 2 * time.Second, 3 * time.Second
	s := ownStack(t, stack.Config{Env: []string{"HTTP_READ_HEADER_TIMEOUT=2s", "HTTP_IDLE_TIMEOUT=3s"}})
	token := newClient(t, s.GatewayURL).signup("slowloris_e2e")
	address := strings.TrimPrefix(s.GatewayURL, "http://")
	openFiles := func() int {
		entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.Gateway.PID()))
		return len(entries)
	}
	before := openFiles()

	const slow = 200
	closedAfter := make(chan time.Duration, slow)
	stop := make(chan struct{})
	for range slow {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		go func() {
			began := time.Now()
			fmt.Fprintf(conn, "POST /greeter/hello HTTP/1.1\r\nHost: gateway\r\n")
			// Trickle a header byte every 100 ms; the server must not wait for the end.
			done := make(chan struct{})
			go func() {
				io.Copy(io.Discard, conn) // returns when the server closes the connection
				close(done)
			}()
			ticker := time.NewTicker(100 * time.Millisecond)
			defer ticker.Stop()
			for {
				select {
				case <-done:
					closedAfter <- time.Since(began)
					return
				case <-stop:
					return
				case <-ticker.C:
					conn.Write([]byte("X"))
				}
			}
		}()
	}
	during := openFiles()
	hellos := newLoad(s.GatewayURL, token)
	hellos.run(50, 3*time.Second, 0, nil)
	_, failed, _, _, _ := hellos.report(t, "hellos beside 200 slowloris connections")
	slowest := longestOf(t, closedAfter, slow, headerTimeout+5*time.Second, "slowloris connections")
	close(stop)
	t.Logf("200 slowloris connections all closed by the gateway, the last after %s (header timeout %s); gateway open files %d before, %d with them",
		slowest.Round(time.Millisecond), headerTimeout, before, during)
	if failed > 0 {
		t.Fatalf("%d hellos failed beside the slow clients", failed)
	}

	// Idle keep-alive connections: one request each, then silence.
	const idle = 1000
	idleClosed := make(chan time.Duration, idle)
	for range idle {
		conn, err := net.Dial("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
		go func() {
			reader := bufio.NewReader(conn)
			rsp, err := http.ReadResponse(reader, nil)
			if err != nil {
				return
			}
			io.Copy(io.Discard, rsp.Body)
			rsp.Body.Close()
			answered := time.Now()
			io.Copy(io.Discard, reader) // until the server closes the idle connection
			idleClosed <- time.Since(answered)
		}()
	}
	withIdle := openFiles()
	longest := longestOf(t, idleClosed, idle, idleTimeout+10*time.Second, "idle connections")
	after := openFiles()
	t.Logf("%d idle keep-alive connections all closed, the last %s after its answer (idle timeout %s); gateway open files %d with them, %d after",
		idle, longest.Round(time.Millisecond), idleTimeout, withIdle, after)
	if after > before+50 {
		t.Fatalf("the gateway holds %d open files after the idle connections closed, %d before", after, before)
	}
}

// longestOf waits for n connections to report how long the gateway took to close them, for
// at most within, and returns the longest.
func longestOf(t *testing.T, closed <-chan time.Duration, n int, within time.Duration, what string) time.Duration {
	t.Helper()
	var longest time.Duration
	timeout := time.After(within)
	for i := range n {
		select {
		case d := <-closed:
			longest = max(longest, d)
		case <-timeout:
			t.Fatalf("only %d of %d %s were closed within %s", i, n, what, within)
		}
	}
	return longest
}

// TestIdempotentRegistrationThroughTheGateway: a registration retried with its
// Idempotency-Key is answered as the first was, also when the client gave up on the first.
func TestIdempotentRegistrationThroughTheGateway(t *testing.T) {
	c := newClient(t, shared.GatewayURL)
	first := c.do("POST", "/user/register", credentials("idem_e2e", "password-idem"), "Idempotency-Key: idem-1")
	again := c.do("POST", "/user/register", credentials("idem_e2e", "password-idem"), "Idempotency-Key: idem-1")
	if first.Status != 201 || again.Status != 201 || again.Body["id"] != first.Body["id"] || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("first %d %s, retry %d %s %v", first.Status, first.Raw, again.Status, again.Raw, again.Header)
	}
	expectError(t, c.do("POST", "/user/register", credentials("idem_e2e", "other password"), "Idempotency-Key: idem-1"), 422, "")
	expectError(t, c.do("POST", "/user/register", credentials("idem_e2e", "password-idem")), 409, "")
	expectError(t, c.do("POST", "/user/register", credentials("IDEM_e2e", "password-idem")), 409, "")
	expectError(t, c.do("POST", "/user/register", credentials("idem2_e2e", "password-idem"), "Idempotency-Key: has space"), 400, "")

	// A client that gave up before its answer retries and gets 201, never 409 for its own
	// account, whether or not the first try had been committed.
	impatient := &http.Client{Timeout: time.Millisecond}
	req := jsonRequest("/user/register", credentials("impatient_e2e", "password-impatient"))
	req.Header.Set("Idempotency-Key", "impatient-1")
	if rsp, err := impatient.Do(req); err == nil {
		rsp.Body.Close()
	}
	if err := stack.Eventually(5*time.Second, 50*time.Millisecond, func() error {
		a := c.do("POST", "/user/register", credentials("impatient_e2e", "password-impatient"), "Idempotency-Key: impatient-1")
		switch a.Status {
		case 201:
			return nil
		case 409:
			t.Fatalf("the retry got 409 for its own account: %s", a.Raw)
			return nil
		default:
			return fmt.Errorf("%d %s", a.Status, a.Raw)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if a := c.login("IMPATIENT_E2E", "password-impatient"); a.Status != 200 {
		t.Fatalf("login in another case: %d %s", a.Status, a.Raw)
	}
}

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/stack"
)

// browser drives headless Chromium through chromedriver's WebDriver protocol (plain HTTP and
// JSON, so no client library is needed).
type browser struct {
	driver  string // http://127.0.0.1:port
	session string
}

// startBrowser starts chromedriver and a headless Chromium session. Without Debian's chromium
// and chromium-driver the test is skipped, except in CI, where .ci/run installs them.
func startBrowser(t *testing.T) (*browser, bool) {
	t.Helper()
	driverBin, err := exec.LookPath("chromedriver")
	chromium, errChromium := exec.LookPath("chromium")
	if err != nil || errChromium != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium and chromedriver are missing (apt-get install chromium chromium-driver)")
		}
		t.Log("NOTICE: chromium or chromedriver not installed: the dashboard is not checked in a browser")
		return nil, false
	}
	port, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(driverBin, "--port="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	b := &browser{driver: "http://127.0.0.1:" + strconv.Itoa(port)}
	if err := stack.Eventually(10*time.Second, 50*time.Millisecond, func() error {
		var status struct {
			Value struct{ Ready bool } `json:"value"`
		}
		if err := b.call("GET", "/status", nil, &status); err != nil || !status.Value.Ready {
			return fmt.Errorf("chromedriver not ready: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}
	var created struct {
		Value struct {
			SessionID string `json:"sessionId"`
		} `json:"value"`
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome", "goog:chromeOptions": map[string]any{"binary": chromium, "args": args},
	}}}
	if err := b.call("POST", "/session", caps, &created); err != nil || created.Value.SessionID == "" {
		t.Fatalf("start a Chromium session: %v", err)
	}
	b.session = created.Value.SessionID
	t.Cleanup(func() { b.call("DELETE", "/session/"+b.session, nil, nil) })
	return b, true
}

func (b *browser) call(method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, b.driver+path, &body)
	req.Header.Set("Content-Type", "application/json")
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != 200 {
		var e struct {
			Value struct{ Message string } `json:"value"`
		}
		json.NewDecoder(rsp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %s", method, path, rsp.StatusCode, e.Value.Message)
	}
	if out != nil {
		return json.NewDecoder(rsp.Body).Decode(out)
	}
	return nil
}

// open loads url in the session.
func (b *browser) open(url string) error {
	return b.call("POST", "/session/"+b.session+"/url", map[string]string{"url": url}, nil)
}

// attribute reads data-<name> of the first element matching css.
func (b *browser) attribute(css, name string) (string, error) {
	var found struct {
		Value map[string]string `json:"value"`
	}
	if err := b.call("POST", "/session/"+b.session+"/element", map[string]string{"using": "css selector", "value": css}, &found); err != nil {
		return "", err
	}
	var id string
	for _, v := range found.Value { // the key is the W3C element identifier
		id = v
	}
	var attr struct {
		Value *string `json:"value"`
	}
	if err := b.call("GET", "/session/"+b.session+"/element/"+id+"/attribute/data-"+name, nil, &attr); err != nil {
		return "", err
	}
	if attr.Value == nil {
		return "", fmt.Errorf("no data-%s on %s", name, css)
	}
	return *attr.Value, nil
}

// waitFor polls until the element matching css has data-<name> = want.
func (b *browser) waitFor(t *testing.T, css, name, want string) {
	t.Helper()
	err := stack.Eventually(15*time.Second, 100*time.Millisecond, func() error {
		got, err := b.attribute(css, name)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("data-%s is %q", name, got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dashboard: %s data-%s never became %q: %v", css, name, want, err)
	}
}

// Package browser is a test helper for the emoji demo: a minimal W3C WebDriver client for
// Debian's chromedriver driving a headless Chromium, enough to open a page, run a script in it
// and take a screenshot, without a browser-automation dependency. It is for tests only: every
// function takes a testing.TB and fails the test on error.
//
//	browser.Need(t) // skips without Chromium unless GLINT_REQUIRE_BROWSER=1
//	d := browser.Start(t, 1480, 2400)
//	d.Navigate("http://" + addr + "/")
//	var n int
//	d.Eval(`return document.querySelectorAll(".match").length`, &n)
//	d.Screenshot(browser.ArtifactPath(t, "page.png"))
package browser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Paths of Debian's chromium and chromium-driver packages.
const (
	ChromiumPath     = "/usr/bin/chromium"
	ChromedriverPath = "/usr/bin/chromedriver"
)

// Need skips the test when Chromium or chromedriver is not installed, unless
// GLINT_REQUIRE_BROWSER=1, which makes their absence a failure.
func Need(t testing.TB) {
	t.Helper()
	for _, p := range []string{ChromiumPath, ChromedriverPath} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("GLINT_REQUIRE_BROWSER") == "1" {
				t.Fatalf("GLINT_REQUIRE_BROWSER=1 but %s is missing (apt-get install chromium chromium-driver)", p)
			}
			t.Skipf("%s is missing (apt-get install chromium chromium-driver)", p)
		}
	}
}

// ArtifactPath returns where a test artifact named name goes: $GLINT_ARTIFACTS (created if
// needed) or, without it, the test's temporary directory.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("GLINT_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// Driver is one WebDriver session. Its methods fail the test on error; use it from the test's
// goroutine.
type Driver struct {
	t       testing.TB
	base    string // http://127.0.0.1:port
	session string
}

// Start starts chromedriver on a free loopback port and opens a headless Chromium session with
// a fresh profile and a window of width×height; both end with the test. It calls Need first.
func Start(t testing.TB, width, height int) *Driver {
	t.Helper()
	Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	cmd := exec.Command(ChromedriverPath, "--port="+strconv.Itoa(port), "--log-path="+logPath)
	ownProcessGroup(cmd) // so cleanup can end Chromium too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &Driver{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	t.Cleanup(func() {
		if d.session != "" {
			_ = d.do("DELETE", "/session/"+d.session, nil, nil)
		}
		killProcessGroup(cmd) // the process group this test started
		_ = cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil && len(b) > 0 {
				t.Logf("chromedriver log tail:\n%s", tail(b, 3000))
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := d.do("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("chromedriver did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": ChromiumPath,
			"args": []string{
				// Without the background-networking flags Chromium keeps dialling out, and this
				// machine's closed network refuses it.
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
				"--user-data-dir=" + t.TempDir(),
				fmt.Sprintf("--window-size=%d,%d", width, height),
			},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := d.do("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new session: %v", err)
	}
	d.session = sess.SessionID
	return d
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// do sends one WebDriver command and decodes the response's "value" into out.
func (d *Driver) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: %d: %w", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

// Navigate opens url and waits until the page has loaded.
func (d *Driver) Navigate(url string) {
	d.t.Helper()
	if err := d.do("POST", "/session/"+d.session+"/url", map[string]string{"url": url}, nil); err != nil {
		d.t.Fatal(err)
	}
}

// Eval runs script (a function body; use return) in the page and decodes its result into out.
func (d *Driver) Eval(script string, out any) {
	d.t.Helper()
	if err := d.do("POST", "/session/"+d.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, out); err != nil {
		d.t.Fatal(err)
	}
}

// Screenshot saves a PNG of the viewport to path.
func (d *Driver) Screenshot(path string) {
	d.t.Helper()
	var b64 string
	if err := d.do("GET", "/session/"+d.session+"/screenshot", nil, &b64); err != nil {
		d.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
}

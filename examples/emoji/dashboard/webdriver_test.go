package dashboard

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
	"syscall"
	"testing"
	"time"
)

// A minimal W3C WebDriver client for chromedriver: enough to open a page, run a script and take
// a screenshot, without a browser-automation dependency.

const (
	chromiumPath     = "/usr/bin/chromium"
	chromedriverPath = "/usr/bin/chromedriver"
)

type webDriver struct {
	t       testing.TB
	base    string // http://127.0.0.1:port
	session string
}

// needBrowser skips the test when Debian's chromium and chromium-driver are not installed,
// unless GLINT_REQUIRE_BROWSER=1, which makes their absence a failure.
func needBrowser(t testing.TB) {
	t.Helper()
	for _, p := range []string{chromiumPath, chromedriverPath} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("GLINT_REQUIRE_BROWSER") == "1" {
				t.Fatalf("GLINT_REQUIRE_BROWSER=1 but %s is missing (apt-get install chromium chromium-driver)", p)
			}
			t.Skipf("%s is missing (apt-get install chromium chromium-driver)", p)
		}
	}
}

// startBrowser starts chromedriver on a free loopback port and opens a headless Chromium
// session with a fresh profile; both end with the test.
func startBrowser(t testing.TB, width, height int) *webDriver {
	t.Helper()
	needBrowser(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	cmd := exec.Command(chromedriverPath, "--port="+strconv.Itoa(port), "--log-path="+logPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so cleanup can end Chromium too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wd := &webDriver{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	t.Cleanup(func() {
		if wd.session != "" {
			_ = wd.do("DELETE", "/session/"+wd.session, nil, nil)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
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
		if err := wd.do("GET", "/status", nil, &st); err == nil && st.Ready {
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
			"binary": chromiumPath,
			"args": []string{
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
	if err := wd.do("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new session: %v", err)
	}
	wd.session = sess.SessionID
	return wd
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// do sends one WebDriver command and decodes the response's "value" into out.
func (wd *webDriver) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
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

func (wd *webDriver) navigate(url string) {
	wd.t.Helper()
	if err := wd.do("POST", "/session/"+wd.session+"/url", map[string]string{"url": url}, nil); err != nil {
		wd.t.Fatal(err)
	}
}

// eval runs script (a function body; use return) in the page and decodes its result into out.
func (wd *webDriver) eval(script string, out any) {
	wd.t.Helper()
	if err := wd.do("POST", "/session/"+wd.session+"/execute/sync", map[string]any{"script": script, "args": []any{}}, out); err != nil {
		wd.t.Fatal(err)
	}
}

// screenshot saves a PNG of the viewport to path.
func (wd *webDriver) screenshot(path string) {
	wd.t.Helper()
	var b64 string
	if err := wd.do("GET", "/session/"+wd.session+"/screenshot", nil, &b64); err != nil {
		wd.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		wd.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		wd.t.Fatal(err)
	}
}

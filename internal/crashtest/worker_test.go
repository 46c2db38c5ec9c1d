package crashtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// worker is one `glint run` process. Its stdout and stderr go to files in the test's temp
// directory; the test prints their tail when it fails.
type worker struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, set before done closes
}

// startWorker starts `glint run job --brokers addr --metrics off` in dir. Every worker is
// killed when the test ends, and the tail of its log is printed if the test failed.
func startWorker(t *testing.T, name, dir, job, addr string) *worker {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(glintBin, "--log-level", "debug", "run", job, "--brokers", addr, "--metrics", "off")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	w := &worker{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		f.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("--- tail of %s (pid %d, %v) ---\n%s", name, cmd.Process.Pid, w.err, w.tail(40))
		}
	})
	return w
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// alive returns an error naming how the worker ended if it is no longer running.
func (w *worker) alive() error {
	if w.exited() {
		return fmt.Errorf("worker %s exited unexpectedly (%v); its log ends:\n%s", w.name, w.err, w.tail(40))
	}
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (w *worker) kill() {
	if w.exited() {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// terminate stops the worker as an operator would (SIGTERM: it drains what it fetched, takes
// a last checkpoint and leaves the group) and fails the test unless it exits cleanly.
func (w *worker) terminate(t *testing.T) {
	t.Helper()
	if err := w.alive(); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		w.kill()
		t.Fatalf("worker %s did not stop within 2 minutes of SIGTERM; its log ends:\n%s", w.name, w.tail(40))
	}
	if w.err != nil {
		t.Fatalf("worker %s: exit after SIGTERM: %v; its log ends:\n%s", w.name, w.err, w.tail(40))
	}
}

// tail returns the last n lines of the worker's log.
func (w *worker) tail(n int) string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	lines = lines[max(0, len(lines)-n):]
	return string(bytes.Join(lines, []byte("\n")))
}

// grepLog returns the lines of the worker's log that contain s.
func (w *worker) grepLog(s string) []string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// exitedBySignal reports whether the worker died of SIGKILL (as the harness kills it).
func (w *worker) killedBySIGKILL() bool {
	var ee *exec.ExitError
	if !errors.As(w.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// keepLogs copies the logs of dir (workers' and in-process runs') to $GLINT_CRASH_LOGDIR/<test>
// when the test ends, for CI to keep as artifacts. Call it right after creating dir.
func keepLogs(t *testing.T, dir string) {
	out := os.Getenv("GLINT_CRASH_LOGDIR")
	if out == "" {
		return
	}
	t.Cleanup(func() {
		dst := filepath.Join(out, t.Name())
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Logf("keeping logs: %v", err)
			return
		}
		for _, l := range logs {
			b, err := os.ReadFile(l)
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, filepath.Base(l)), b, 0o644)
			}
			if err != nil {
				t.Logf("keeping logs: %v", err)
			}
		}
		t.Logf("logs kept in %s", dst)
	})
}

package crashtest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// glintBin is the CLI built once by TestMain; the workers are processes of it.
var glintBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the tests skip themselves
	}
	dir, err := os.MkdirTemp("", "glint-crashtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
	glintBin, err = buildGlint(dir)
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildGlint builds the real CLI into dir with the go command that runs the tests.
func buildGlint(dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "glint")
	cmd := exec.Command(goCmd, "build", "-o", bin, "github.com/glintstream/glint/cmd/glint")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build glint: %v\n%s", err, out)
	}
	return bin, nil
}

package lakehouse

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The crash tests run a writer in a child process (this test binary, re-executed with
// GLINT_LAKEHOUSE_CRASH set, as Go's os/exec tests do) and kill it with SIGKILL at a chosen
// point. The parent then checks what readers see and what a restarted writer recovers.

const crashEnv = "GLINT_LAKEHOUSE_CRASH"

// Rows of the crash scenario: A is committed, B is prepared (its Staged saved as the
// checkpoint manifest would), C is prepared after B.
var (
	crashA = emojiRows(11, 0, 3000)
	crashB = emojiRows(12, 0, 2000)
	crashC = emojiRows(13, 0, 1000)
)

func crashConfig(wh string) Config {
	return Config{Table: "crash", Warehouse: wh, PartitionBy: []string{"day(window_start)"}}
}

var crashID = Identity{Job: "crashjob", Task: 1}

// TestCrashHelperProcess is the child. Modes:
//
//	staged: commit A, prepare B (save its Staged to $WH/manifest-2.json), prepare C, wait.
//	commit: commit A, prepare B, save it, then Commit(2) but stop after the files were renamed
//	        to their final names and before the Iceberg commit.
func TestCrashHelperProcess(t *testing.T) {
	mode := os.Getenv(crashEnv)
	if mode == "" {
		t.Skip("helper process for the crash tests")
	}
	wh := os.Getenv("WH")
	ctx := context.Background()
	var opts []Option
	if mode == "commit" {
		opts = append(opts, func(o *options) {
			o.beforeIcebergCommit = func(seq uint64) {
				if seq == 2 {
					fmt.Println("RENAMED")
					time.Sleep(time.Hour) // killed here
				}
			}
		})
	}
	k, err := Open(ctx, crashConfig(wh), emojiSchema, crashID, opts...)
	must := func(err error) {
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(3)
		}
	}
	must(err)
	must(k.Recover(ctx))
	must(k.Write(crashA))
	must(k.Flush(ctx)) // seq 1
	must(k.Write(crashB))
	st, err := k.Prepare(2)
	must(err)
	b, _ := st.MarshalBinary()
	must(writeFileSync(filepath.Join(wh, "manifest-2.json"), b))
	if mode == "commit" {
		must(k.Commit(ctx, 2))
		fmt.Println("UNREACHABLE")
		os.Exit(4)
	}
	must(k.Write(crashC))
	_, err = k.Prepare(3)
	must(err)
	fmt.Println("READY")
	time.Sleep(time.Hour)
}

// runCrashChild starts the child in mode and SIGKILLs it when it prints signal.
func runCrashChild(t *testing.T, wh, mode, signal string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+mode, "WH="+wh)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var seen []string
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if line == signal {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup runs
				t.Fatal(err)
			}
			_ = cmd.Wait()
			return
		}
	}
	_ = cmd.Wait()
	t.Fatalf("child exited before %s:\n%s", signal, strings.Join(seen, "\n"))
}

func loadManifest(t *testing.T, wh string) Staged {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wh, "manifest-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st Staged
	if err := st.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return st
}

func stagedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, stagingSuffix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func tableState(t *testing.T, wh string) (rows []string, snapshots int, metadata string) {
	t.Helper()
	cat, err := OpenCatalog(context.Background(), CatalogOptions{Warehouse: wh})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	tbl, err := cat.LoadTable(context.Background(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	return rowKeys(emojiSchema, scanRows(t, cat, "crash", emojiSchema)), len(tbl.Metadata().Snapshots()), tbl.MetadataLocation()
}

func TestCrashBetweenStagingAndCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	keysA := rowKeys(emojiSchema, crashA)
	keysAB := rowKeys(emojiSchema, append(crashA[:len(crashA):len(crashA)], crashB...))

	for _, tc := range []struct {
		name         string
		mode, signal string
		rollForward  bool // the checkpoint of B completed: its Staged is handed to Recover
		want         []string
	}{
		{"checkpoint-complete", "staged", "READY", true, keysAB},
		{"checkpoint-incomplete", "staged", "READY", false, keysA},
		{"killed-inside-commit", "commit", "RENAMED", false, keysAB}, // the commit intent rolls forward
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			wh := t.TempDir()
			runCrashChild(t, wh, tc.mode, tc.signal)
			tableDir := filepath.Join(wh, "default", "crash")

			// After the crash, readers see exactly the committed rows of A.
			got, _, _ := tableState(t, wh)
			if d := diffKeys(keysA, got); d != "" {
				t.Fatalf("after crash: %s", d)
			}
			if tc.mode == "staged" && len(stagedFiles(t, tableDir)) == 0 {
				t.Fatal("expected staged files left by the killed writer")
			}

			// Restart: recover, with the manifest's Staged if the checkpoint completed.
			mem := checkedAlloc(t)
			k, err := Open(ctx, crashConfig(wh), emojiSchema, crashID, WithAllocator(mem))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			var rf []Staged
			if tc.rollForward {
				rf = append(rf, loadManifest(t, wh))
			}
			if err := k.Recover(ctx, rf...); err != nil {
				t.Fatal(err)
			}
			got, snaps, meta := tableState(t, wh)
			if d := diffKeys(tc.want, got); d != "" {
				t.Fatalf("after recovery: %s", d)
			}
			if left := stagedFiles(t, tableDir); len(left) != 0 {
				t.Fatalf("staged files not cleaned up: %v", left)
			}
			if entries, _ := os.ReadDir(k.sdir); len(entries) != 0 {
				t.Fatalf("staging directory not empty: %v", entries)
			}

			// Repeating the commit, and the recovery, changes nothing.
			st := loadManifest(t, wh)
			if len(tc.want) == len(keysAB) {
				if err := k.Commit(ctx, 2); err != nil {
					t.Fatal(err)
				}
				if err := k.Recover(ctx, st); err != nil {
					t.Fatal(err)
				}
			} else if err := k.Recover(ctx); err != nil {
				t.Fatal(err)
			}
			got2, snaps2, meta2 := tableState(t, wh)
			if d := diffKeys(tc.want, got2); d != "" || snaps2 != snaps || meta2 != meta {
				t.Fatalf("repeat changed the table: %s snapshots %d→%d metadata %s→%s", d, snaps, snaps2, meta, meta2)
			}

			// A fresh writer process (new sink) continues with the next sequence number.
			k.Close()
			k2 := openSink(t, crashConfig(wh), emojiSchema, crashID, WithAllocator(mem))
			defer k2.Close()
			wantSeq := uint64(1)
			if len(tc.want) == len(keysAB) {
				wantSeq = 2
			}
			if k2.LastSeq() != wantSeq {
				t.Fatalf("LastSeq after restart = %d, want %d", k2.LastSeq(), wantSeq)
			}
		})
	}
}

package cpcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glintstream/glint/checkpoint"
)

var created = time.Date(2026, 9, 18, 12, 0, 0, 0, time.UTC)

// fixture writes checkpoints into a new directory: job emoji task 0 has 1 and 2 complete and
// a torn manifest 3; task 1 has checkpoint 1 without state; job other has one checkpoint.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	faults := checkpoint.NewFaults()
	st, err := checkpoint.Open(ctx, dir, checkpoint.WithClock(func() time.Time { return created }), checkpoint.WithFaults(faults))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mk := func(job string, task int32, id uint64) *checkpoint.Manifest {
		return &checkpoint.Manifest{
			Job: job, Task: task, ID: id,
			Inputs:    []checkpoint.InputOffset{{Topic: "reactions", Partition: task, Offset: 1000 * int64(id)}, {Topic: "users", Partition: task, Offset: 7}},
			Watermark: created.UnixMilli() - 5000,
			Sinks:     []checkpoint.SinkState{{Name: "counts", Data: []byte(`{"staged":["part-1.parquet"]}`)}, {Name: "alerts", Data: []byte{0x00, 0x01, 0xfe}}},
			Meta:      map[string]string{"glint.version": "0.1.0"},
		}
	}
	for id := uint64(1); id <= 2; id++ {
		if err := st.Save(ctx, mk("emoji", 0, id), bytes.NewReader(bytes.Repeat([]byte{byte(id)}, 3000))); err != nil {
			t.Fatal(err)
		}
	}
	faults.Add(checkpoint.Fault{Target: checkpoint.TargetManifest, Mode: checkpoint.FaultTear, Bytes: -1})
	if err := st.Save(ctx, mk("emoji", 0, 3), bytes.NewReader([]byte("three"))); !errors.Is(err, checkpoint.ErrInjected) {
		t.Fatal(err)
	}
	if err := st.Save(ctx, mk("emoji", 1, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, mk("other", 0, 1), strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCommand(func() time.Time { return created.Add(90 * time.Second) })
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestList(t *testing.T) {
	dir := fixture(t)
	out, err := run(t, "list", "--storage", dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("list:\n%s", out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	wantLines := [][]string{
		{"JOB", "TASK", "ID", "AGE", "INPUTS", "STATE", "STATUS"},
		{"emoji", "0", "1", "1m30s", "reactions[0]@1000", "users[0]@7", "2.9", "KiB", "complete"},
		{"emoji", "0", "2", "1m30s", "reactions[0]@2000", "users[0]@7", "2.9", "KiB", "complete", "(latest)"},
		{"emoji", "0", "3", "-", "-", "5", "B", "corrupt:"},
		{"emoji", "1", "1", "1m30s", "reactions[1]@1000", "users[1]@7", "0", "B", "complete", "(latest)"},
		{"other", "0", "1", "1m30s", "reactions[0]@1000", "users[0]@7", "1", "B", "complete", "(latest)"},
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("list printed %d lines, want %d:\n%s", len(lines), len(wantLines), out)
	}
	for i, wl := range wantLines {
		f := strings.Fields(lines[i])
		if len(f) < len(wl) || strings.Join(f[:len(wl)], " ") != strings.Join(wl, " ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], strings.Join(wl, " "))
		}
	}
	if !strings.Contains(lines[3], "checksum") {
		t.Errorf("the torn manifest's line does not say why: %q", lines[3])
	}
	// Columns are aligned: every STATUS starts at the same offset.
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "co") {
			t.Errorf("misaligned line %q", l)
		}
	}

	out, err = run(t, "list", "--storage", dir, "--job", "emoji", "--task", "1")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "reactions[1]@1000") {
		t.Errorf("list --job emoji --task 1:\n%s(err %v)", out, err)
	}
	out, err = run(t, "list", "--storage", dir, "--job", "emoji", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []checkpoint.Info
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(infos) != 4 || !infos[1].Latest || infos[2].Status != checkpoint.StatusCorrupt || infos[1].Manifest.Inputs[0].Offset != 2000 || !strings.Contains(out, `"status": "complete"`) {
		t.Errorf("list --json:\n%s", out)
	}
	out, err = run(t, "list", "--storage", dir, "--job", "nope")
	if err != nil || !strings.Contains(out, "no checkpoints in") {
		t.Errorf("list of an unknown job: %q, %v", out, err)
	}
	missing := filepath.Join(dir, "does-not-exist")
	if _, err := run(t, "list", "--storage", missing); err == nil || !strings.Contains(err.Error(), "no checkpoint storage") {
		t.Errorf("list of a missing directory: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("list created the directory it was pointed at")
	}
}

func TestInspect(t *testing.T) {
	dir := fixture(t)
	out, err := run(t, "inspect", "--storage", dir, "--job", "emoji", "--task", "0")
	if err != nil {
		t.Fatal(err)
	}
	want := `job        emoji
task       0
id         2
created    2026-09-18T12:00:00Z (1m30s ago)
watermark  1789732795000 (2026-09-18T11:59:55.000Z)
state      emoji/task-0/state-00000000000000000002, 2.9 KiB (3000 bytes), crc32c ` + crcHex(bytes.Repeat([]byte{2}, 3000)) + `, verified

inputs (2)
  TOPIC      PARTITION  NEXT OFFSET
  reactions  0          2000
  users      0          7

sinks (2)
  NAME    BYTES  DATA
  counts  29     "{\"staged\":[\"part-1.parquet\"]}"
  alerts  3      0x0001fe

meta (1)
  glint.version  0.1.0
`
	if out != want {
		t.Errorf("inspect printed:\n%s\nwant:\n%s", out, want)
	}

	// A checkpoint given by id whose state was damaged: printed, flagged, non-zero exit.
	p := filepath.Join(dir, "emoji", "task-0", "state-00000000000000000001")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[10] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "inspect", "--storage", dir, "--job", "emoji", "--task", "0", "--id", "1")
	if !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, "reactions  0          1000") {
		t.Errorf("inspect of damaged state: err %v\n%s", err, out)
	}
	if _, err := run(t, "inspect", "--storage", dir, "--job", "emoji", "--task", "0", "--id", "3"); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("inspect of a torn manifest: %v, want ErrCorrupt", err)
	}
	if _, err := run(t, "inspect", "--storage", dir, "--job", "emoji", "--task", "7"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("inspect of a task without checkpoints: %v, want ErrNotFound", err)
	}
	if _, err := run(t, "inspect", "--storage", dir); err == nil || !strings.Contains(err.Error(), "job") {
		t.Errorf("inspect without --job: %v", err)
	}

	out, err = run(t, "inspect", "--storage", dir, "--job", "emoji", "--task", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		checkpoint.Manifest
		StateVerified bool `json:"state_verified"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if v.Job != "emoji" || v.Task != 1 || v.ID != 1 || !v.StateVerified || string(v.Sinks[0].Data) != `{"staged":["part-1.parquet"]}` || !v.Created.Equal(created) {
		t.Errorf("inspect --json decoded to %+v", v)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"list", "--help"}, {"inspect", "--help"}} {
		out, err := run(t, args...)
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "glint checkpoints") || !strings.Contains(out, "--storage") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

func TestFormatting(t *testing.T) {
	now := created
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "0s"}, {59 * time.Second, "59s"}, {61*time.Minute + 5*time.Second, "1h1m"}, {50 * time.Hour, "2d2h"}, {-time.Second, "in the future"}} {
		if got := ageOf(now.Add(-c.d), now); got != c.want {
			t.Errorf("ageOf(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := preview([]byte(strings.Repeat("é", 100)), 11); got != `"ééééé…"` {
		t.Errorf("preview cuts inside a rune: %s", got)
	}
	if got := watermark(-1 << 63); got != "none yet" {
		t.Errorf("watermark(min) = %q", got)
	}
	if got := offsets(make([]checkpoint.InputOffset, 5), 3); !strings.HasSuffix(got, "+2 more") {
		t.Errorf("offsets = %q", got)
	}
}

func crcHex(b []byte) string {
	return fmt.Sprintf("%08x", crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

package cpcli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/glintstream/glint/internal/cliutil"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/glintstream/glint/checkpoint"
)

// NewCommand returns the `checkpoints` command with its subcommands list and inspect. The
// persistent flag --storage selects the checkpoint storage.
func NewCommand() *cobra.Command { return newCommand(time.Now) }

// newCommand takes the clock that ages are measured with, so tests get stable output.
func newCommand(now func() time.Time) *cobra.Command {
	var storage string
	cmd := &cobra.Command{
		Use:     "checkpoints",
		Aliases: []string{"checkpoint", "cp"},
		Short:   "List and inspect the checkpoints of jobs",
		Long: `Checkpoints looks into checkpoint storage: for each job and task, the checkpoints on
storage (manifest-<id> with its state-<id> blob), whether each is complete, and what a
checkpoint holds: the input offsets a restarted task seeks to, its watermark, its sinks'
pre-commit data and its operator state.

A task recovers from its newest complete checkpoint, marked "latest" by list. Corrupt or
incomplete checkpoints (a torn manifest, a missing or damaged state blob) are skipped; an
"orphan" is what a failed or unfinished save left behind, removed by the next prune.`,
		Example: `  glint checkpoints list
  glint checkpoints list --job emoji-counts
  glint checkpoints list --storage /shared/glint/checkpoints --json
  glint checkpoints inspect --job emoji-counts --task 3
  glint checkpoints inspect --job emoji-counts --task 3 --id 41 --json`,
	}
	cmd.PersistentFlags().StringVar(&storage, "storage", checkpoint.DefaultLocation,
		"checkpoint storage: a directory, file:///path, or a URL of a compiled-in gocloud.dev driver")
	open := func(cmd *cobra.Command) (*checkpoint.Store, error) {
		// Listing must not create an empty directory where the user mistyped a path.
		if !strings.Contains(storage, "://") {
			if _, err := os.Stat(storage); err != nil {
				return nil, fmt.Errorf("no checkpoint storage at %s: %w", storage, err)
			}
		}
		return checkpoint.Open(cmd.Context(), storage)
	}
	cmd.AddCommand(listCmd(open, now), inspectCmd(open, now))
	return cmd
}

type opener func(*cobra.Command) (*checkpoint.Store, error)

func listCmd(open opener, now func() time.Time) *cobra.Command {
	var job string
	var task int32
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List checkpoints: job, task, id, age, input offsets, state size, status",
		Example: `  glint checkpoints list
  glint checkpoints list --job emoji-counts --task 0
  glint checkpoints list --json | jq '.[] | select(.status != "complete")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			jobs := []string{job}
			if job == "" {
				if jobs, err = st.Jobs(cmd.Context()); err != nil {
					return err
				}
			}
			var infos []checkpoint.Info
			for _, j := range jobs {
				in, err := st.List(cmd.Context(), j)
				if err != nil {
					return err
				}
				for _, i := range in {
					if task < 0 || i.Task == task {
						infos = append(infos, i)
					}
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), infos)
			}
			if len(infos) == 0 {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "no checkpoints in %s\n", st.Location())
				return err
			}
			return printList(cmd.OutOrStdout(), infos, now())
		},
	}
	c.Flags().StringVar(&job, "job", "", "only this job (default: every job)")
	c.Flags().Int32Var(&task, "task", -1, "only this task (-1: every task)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printList(out io.Writer, infos []checkpoint.Info, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "JOB\tTASK\tID\tAGE\tINPUTS\tSTATE\tSTATUS")
	for _, in := range infos {
		age, inputs := "-", "-"
		if m := in.Manifest; m != nil {
			age = ageOf(m.Created, now)
			inputs = offsets(m.Inputs, 3)
		}
		state := "-"
		if in.StateSize >= 0 && (in.StateKey != "" || in.Manifest != nil) {
			state = cliutil.Bytes(in.StateSize)
		}
		status := in.Status.String()
		if in.Latest {
			status += " (latest)"
		}
		if in.Problem != "" {
			status += ": " + in.Problem
		}
		if len(in.Temps) > 0 {
			status += fmt.Sprintf(" [%d temporary object(s)]", len(in.Temps))
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", in.Job, in.Task, in.ID, age, inputs, state, status)
	}
	return w.Flush()
}

func inspectCmd(open opener, now func() time.Time) *cobra.Command {
	var job string
	var task int32
	var id uint64
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect --job JOB --task N [--id ID]",
		Short: "Show one checkpoint in full and verify its state's CRC",
		Long: `Inspect prints one checkpoint's manifest in full: input offsets, watermark, each sink's
pre-commit data, metadata, and its state blob, which it reads whole to verify its size and
CRC-32C. Without --id it shows the newest complete checkpoint of the task, the one the task
would recover from. The exit status is non-zero if the checkpoint is corrupt.`,
		Example: `  glint checkpoints inspect --job emoji-counts --task 3
  glint checkpoints inspect --job emoji-counts --task 3 --id 41
  glint checkpoints inspect --job emoji-counts --task 3 --json | jq .inputs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			var m *checkpoint.Manifest
			if cmd.Flags().Changed("id") {
				m, err = st.Get(ctx, job, task, id)
			} else {
				m, err = st.Latest(ctx, job, task)
			}
			if err != nil {
				return err
			}
			verr := st.Verify(ctx, m)
			if asJSON {
				v := struct {
					*checkpoint.Manifest
					StateVerified bool   `json:"state_verified"`
					StateError    string `json:"state_error,omitempty"`
				}{Manifest: m, StateVerified: verr == nil}
				if verr != nil {
					v.StateError = verr.Error()
				}
				if err := writeJSON(cmd.OutOrStdout(), v); err != nil {
					return err
				}
			} else if err := printManifest(cmd.OutOrStdout(), m, verr, now()); err != nil {
				return err
			}
			if verr != nil {
				return fmt.Errorf("checkpoint %d of job %q task %d: %w", m.ID, m.Job, m.Task, verr)
			}
			return nil
		},
	}
	c.Flags().StringVar(&job, "job", "", "job name (required)")
	c.Flags().Int32Var(&task, "task", 0, "task number")
	c.Flags().Uint64Var(&id, "id", 0, "checkpoint id (default: the newest complete one)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (sink data base64-encoded)")
	_ = c.MarkFlagRequired("job")
	return c
}

func printManifest(out io.Writer, m *checkpoint.Manifest, verr error, now time.Time) error {
	section := func(title string, fill func(w io.Writer)) error {
		if title != "" {
			fmt.Fprintf(out, "\n%s\n", title)
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fill(w)
		return w.Flush()
	}
	state := "none"
	if m.StateKey != "" {
		verdict := "verified"
		if verr != nil {
			verdict = "CORRUPT: " + verr.Error()
		}
		state = fmt.Sprintf("%s, %s (%d bytes), crc32c %08x, %s", m.StateKey, cliutil.Bytes(m.StateSize), m.StateSize, m.StateCRC, verdict)
	} else if verr != nil {
		state = "CORRUPT: " + verr.Error()
	}
	keys := slices.Sorted(maps.Keys(m.Meta))
	return errors.Join(
		section("", func(w io.Writer) {
			fmt.Fprintf(w, "job\t%s\n", m.Job)
			fmt.Fprintf(w, "task\t%d\n", m.Task)
			fmt.Fprintf(w, "id\t%d\n", m.ID)
			created := "-"
			if !m.Created.IsZero() {
				created = fmt.Sprintf("%s (%s ago)", m.Created.UTC().Format(time.RFC3339Nano), ageOf(m.Created, now))
			}
			fmt.Fprintf(w, "created\t%s\n", created)
			fmt.Fprintf(w, "watermark\t%s\n", watermark(m.Watermark))
			fmt.Fprintf(w, "state\t%s\n", state)
		}),
		section(fmt.Sprintf("inputs (%d)", len(m.Inputs)), func(w io.Writer) {
			fmt.Fprintln(w, "  TOPIC\tPARTITION\tNEXT OFFSET")
			for _, in := range m.Inputs {
				fmt.Fprintf(w, "  %s\t%d\t%d\n", in.Topic, in.Partition, in.Offset)
			}
		}),
		section(fmt.Sprintf("sinks (%d)", len(m.Sinks)), func(w io.Writer) {
			fmt.Fprintln(w, "  NAME\tBYTES\tDATA")
			for _, s := range m.Sinks {
				fmt.Fprintf(w, "  %s\t%d\t%s\n", s.Name, len(s.Data), preview(s.Data, 120))
			}
		}),
		section(fmt.Sprintf("meta (%d)", len(m.Meta)), func(w io.Writer) {
			for _, k := range keys {
				fmt.Fprintf(w, "  %s\t%s\n", k, m.Meta[k])
			}
		}),
	)
}

// offsets renders input positions as topic[partition]@offset, at most limit of them.
func offsets(ins []checkpoint.InputOffset, limit int) string {
	if len(ins) == 0 {
		return "-"
	}
	parts := make([]string, 0, limit+1)
	for i, in := range ins {
		if i == limit {
			parts = append(parts, fmt.Sprintf("+%d more", len(ins)-limit))
			break
		}
		parts = append(parts, fmt.Sprintf("%s[%d]@%d", in.Topic, in.Partition, in.Offset))
	}
	return strings.Join(parts, " ")
}

// watermark renders an event-time watermark (ms) with its special values.
func watermark(ms int64) string {
	switch ms {
	case math.MinInt64:
		return "none yet"
	case math.MaxInt64:
		return "+inf (every input ended)"
	}
	return fmt.Sprintf("%d (%s)", ms, time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"))
}

// ageOf renders how long ago t was, at a precision that suits its size.
func ageOf(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in the future"
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s")
	}
	days := int64(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh", days, int64(d/time.Hour)-24*days)
}

// preview renders sink data as text when it is printable UTF-8, else as hex.
func preview(b []byte, limit int) string {
	if len(b) == 0 {
		return "-"
	}
	if utf8.Valid(b) && strings.IndexFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		s := string(b)
		if len(s) > limit {
			cut := limit
			for !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut] + "…"
		}
		return strconv.Quote(s)
	}
	n := min(len(b), limit/3)
	s := hex.EncodeToString(b[:n])
	if n < len(b) {
		s += "…"
	}
	return "0x" + s
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

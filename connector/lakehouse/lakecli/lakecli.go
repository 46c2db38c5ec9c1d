package lakecli

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/glintstream/glint/internal/cliutil"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/glintstream/glint/connector/lakehouse"
)

// NewCommand returns the `lake` command and its subcommands: tables, describe, head, compact
// and expire. The persistent flags --warehouse, --catalog and --catalog-dsn select the catalog.
func NewCommand() *cobra.Command {
	var co lakehouse.CatalogOptions
	cmd := &cobra.Command{
		Use:   "lake",
		Short: "Inspect and maintain the lakehouse's Iceberg tables",
		Long: `Lake looks inside the lakehouse directory that lakehouse sinks write to (Apache Iceberg
tables of Parquet files) without other tools, and maintains its tables: compaction of small
files into large ones, and expiry of old snapshots and orphan files.

Tables are named as in job files: "name" (namespace "default") or "namespace.name".`,
		Example: `  glint lake tables
  glint lake describe emoji_counts
  glint lake head emoji_counts -n 20
  glint lake compact emoji_counts --target-file-size 256MiB
  glint lake expire emoji_counts --older-than 168h --retain-last 10
  glint lake tables --catalog sql --catalog-dsn sqlite:///shared/lake/catalog.db`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&co.Warehouse, "warehouse", lakehouse.DefaultWarehouse, "lakehouse directory")
	pf.StringVar(&co.Kind, "catalog", lakehouse.CatalogFilesystem, "catalog: filesystem or sql")
	pf.StringVar(&co.DSN, "catalog-dsn", "", "SQL catalog DSN (with --catalog sql), e.g. sqlite:///path/catalog.db")

	open := func(cmd *cobra.Command) (*lakehouse.Catalog, error) {
		return lakehouse.OpenCatalog(cmd.Context(), co)
	}
	cmd.AddCommand(tablesCmd(open), describeCmd(open), headCmd(open), compactCmd(open), expireCmd(open))
	return cmd
}

type opener func(*cobra.Command) (*lakehouse.Catalog, error)

func tablesCmd(open opener) *cobra.Command {
	return &cobra.Command{
		Use:     "tables",
		Short:   "List the tables of the lakehouse",
		Example: "  glint lake tables --warehouse ./lake",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := open(cmd)
			if err != nil {
				return err
			}
			defer cat.Close()
			names, err := lakehouse.ListTables(cmd.Context(), cat)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "TABLE\tROWS\tFILES\tSIZE\tSNAPSHOTS\tLAST COMMIT")
			for _, n := range names {
				info, err := lakehouse.Describe(cmd.Context(), cat, n)
				if err != nil {
					return err
				}
				last := "-"
				if k := len(info.Snapshots); k > 0 {
					last = info.Snapshots[k-1].Time.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%s\n", n, info.Rows, len(info.Files), cliutil.Bytes(info.Bytes), len(info.Snapshots), last)
			}
			return w.Flush()
		},
	}
}

func describeCmd(open opener) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "describe TABLE",
		Short: "Show a table's schema, partitioning, snapshots (with their properties) and files",
		Example: `  glint lake describe emoji_counts
  glint lake describe analytics.clicks --json | jq .snapshots`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := open(cmd)
			if err != nil {
				return err
			}
			defer cat.Close()
			info, err := lakehouse.Describe(cmd.Context(), cat, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return printDescription(cmd.OutOrStdout(), info)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the description as JSON")
	return c
}

func printDescription(out io.Writer, info lakehouse.TableInfo) error {
	// One tabwriter per section, so each section aligns its own columns.
	section := func(title string, fill func(w io.Writer)) error {
		if title != "" {
			fmt.Fprintf(out, "\n%s\n", title)
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fill(w)
		return w.Flush()
	}
	part := "unpartitioned"
	if len(info.PartitionBy) > 0 {
		part = strings.Join(info.PartitionBy, ", ")
	}
	keys := slices.Sorted(maps.Keys(info.Properties))
	return errors.Join(
		section("", func(w io.Writer) {
			fmt.Fprintf(w, "table\t%s\n", info.Name)
			fmt.Fprintf(w, "location\t%s\n", info.Location)
			fmt.Fprintf(w, "format\ticeberg v%d\n", info.FormatVersion)
			fmt.Fprintf(w, "rows\t%d in %d files, %s\n", info.Rows, len(info.Files), cliutil.Bytes(info.Bytes))
			fmt.Fprintf(w, "partitioned by\t%s\n", part)
		}),
		section("schema", func(w io.Writer) {
			fmt.Fprintln(w, "  ID\tCOLUMN\tTYPE")
			for _, c := range info.Columns {
				fmt.Fprintf(w, "  %d\t%s\t%s\n", c.ID, c.Name, c.Type)
			}
		}),
		section("properties", func(w io.Writer) {
			for _, k := range keys {
				v := info.Properties[k]
				if len(v) > 80 {
					v = v[:77] + "..."
				}
				fmt.Fprintf(w, "  %s\t%s\n", k, v)
			}
		}),
		section(fmt.Sprintf("snapshots (%d, oldest first)", len(info.Snapshots)), func(w io.Writer) {
			fmt.Fprintln(w, "  ID\tTIME\tOPERATION\tADDED\tDELETED\tTOTAL ROWS\tPROPERTIES")
			for _, s := range info.Snapshots {
				cur := ""
				if s.ID == info.CurrentSnapshot {
					cur = " (current)"
				}
				fmt.Fprintf(w, "  %d%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, cur, s.Time.Format(time.RFC3339), s.Operation,
					orDash(s.Summary["added-records"]), orDash(s.Summary["deleted-records"]), orDash(s.Summary["total-records"]), commitProps(s.Summary))
			}
		}),
		section(fmt.Sprintf("files (%d)", len(info.Files)), func(w io.Writer) {
			fmt.Fprintln(w, "  PATH\tPARTITION\tROWS\tSIZE")
			for _, f := range info.Files {
				fmt.Fprintf(w, "  %s\t%s\t%d\t%s\n", f.Path, orDash(f.Partition), f.Rows, cliutil.Bytes(f.Bytes))
			}
		}),
	)
}

// commitProps renders the snapshot properties that are not Iceberg's own counters.
func commitProps(summary map[string]string) string {
	var keys []string
	for k := range summary {
		if strings.Contains(k, ".") { // glint.job, glint.seq, …; Iceberg's counters have no dots
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + summary[k]
	}
	return orDash(strings.Join(parts, " "))
}

func headCmd(open opener) *cobra.Command {
	var n int
	c := &cobra.Command{
		Use:   "head TABLE",
		Short: "Print the first rows of a table's current snapshot",
		Example: `  glint lake head emoji_counts
  glint lake head emoji_counts -n 100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := open(cmd)
			if err != nil {
				return err
			}
			defer cat.Close()
			s, rows, err := lakehouse.Head(cmd.Context(), cat, args[0], n)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, strings.Join(s.Names(), "\t"))
			var buf []byte
			for _, r := range rows {
				buf = buf[:0]
				for i, v := range r {
					if i > 0 {
						buf = append(buf, '\t')
					}
					buf = v.AppendText(buf, s.Fields[i].Type)
				}
				buf = append(buf, '\n')
				w.Write(buf)
			}
			return w.Flush()
		},
	}
	c.Flags().IntVarP(&n, "rows", "n", 10, "number of rows")
	return c
}

func compactCmd(open opener) *cobra.Command {
	var target, small, compression string
	var minFiles int
	c := &cobra.Command{
		Use:   "compact TABLE",
		Short: "Rewrite each partition's small files into large ones, in one replace snapshot",
		Long: `Compact rewrites the small files of each partition (below --small-file, by default three
quarters of --target-file-size) into files of about --target-file-size, and swaps them in one
Iceberg "replace" snapshot: a reader sees the old files or the new ones, never a row missing
or twice. Sinks may keep writing meanwhile. The replaced files stay on disk for older
snapshots until "glint lake expire" removes them.`,
		Example: `  glint lake compact emoji_counts
  glint lake compact emoji_counts --target-file-size 512MiB --min-files 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := lakehouse.CompactOptions{MinInputFiles: minFiles, Compression: compression}
			var err error
			if o.TargetFileSize, err = lakehouse.ParseSize(target); err != nil {
				return fmt.Errorf("--target-file-size: %w", err)
			}
			if small != "" {
				if o.SmallFile, err = lakehouse.ParseSize(small); err != nil {
					return fmt.Errorf("--small-file: %w", err)
				}
			}
			cat, err := open(cmd)
			if err != nil {
				return err
			}
			defer cat.Close()
			res, err := lakehouse.Compact(cmd.Context(), cat, args[0], o)
			if err != nil {
				return err
			}
			if res.FilesRemoved == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to compact")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compacted %d files (%s) into %d files (%s) in %d partitions: %d rows, snapshot %d\n",
				res.FilesRemoved, cliutil.Bytes(res.BytesBefore), res.FilesAdded, cliutil.Bytes(res.BytesAfter), res.Partitions, res.Rows, res.SnapshotID)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&target, "target-file-size", "128MiB", "size of the files written")
	f.StringVar(&small, "small-file", "", "files below this size are rewritten (default 3/4 of --target-file-size)")
	f.IntVar(&minFiles, "min-files", 2, "compact a partition only if it has at least this many small files")
	f.StringVar(&compression, "compression", "zstd", "Parquet compression: zstd, snappy, gzip, lz4 or none")
	return c
}

func expireCmd(open opener) *cobra.Command {
	var o lakehouse.ExpireOptions
	c := &cobra.Command{
		Use:   "expire TABLE",
		Short: "Remove old snapshots and the files only they referenced, then orphan files",
		Long: `Expire removes snapshots older than --older-than (always keeping the newest --retain-last),
deletes the data and metadata files that only they referenced, then deletes orphan files:
files in the table directory that no snapshot references and that are older than
--orphans-older-than. That age protects files a writer is about to commit; keep it well
above the longest commit. Files staged by sinks (under staging/) are left to the sinks, which
roll them forward or delete them when they recover. Sinks' commit markers survive expiry.`,
		Example: `  glint lake expire emoji_counts
  glint lake expire emoji_counts --older-than 24h --retain-last 5 --orphans-older-than 6h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := open(cmd)
			if err != nil {
				return err
			}
			defer cat.Close()
			res, err := lakehouse.Expire(cmd.Context(), cat, args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "expired %d snapshots, deleted %d orphan files\n", res.ExpiredSnapshots, len(res.DeletedOrphans))
			for _, p := range res.DeletedOrphans {
				fmt.Fprintf(cmd.OutOrStdout(), "  deleted %s\n", p)
			}
			return nil
		},
	}
	f := c.Flags()
	f.DurationVar(&o.OlderThan, "older-than", 7*24*time.Hour, "expire snapshots older than this (0: the default, 168h)")
	f.IntVar(&o.RetainLast, "retain-last", 1, "always keep this many newest snapshots")
	f.DurationVar(&o.OrphansOlderThan, "orphans-older-than", 24*time.Hour, "delete unreferenced files older than this (0: the default, 24h; negative: keep all)")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

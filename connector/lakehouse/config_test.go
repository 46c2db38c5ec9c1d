package lakehouse

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/glintstream/glint/row"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // one substring per expected error, in order
	}{
		{"minimal", Config{Table: "emoji_counts"}, nil},
		{"full", Config{Table: "analytics.emoji_counts", Warehouse: "/data/lake", PartitionBy: []string{"day(window_start)", "match_id", " hour( window_end ) "},
			Compression: "snappy", TargetFileSize: "512MB", RollInterval: "30s", Format: "parquet", Catalog: "sql", CatalogDSN: "sqlite:///data/lake/catalog.db"}, nil},
		{"arrow", Config{Table: "t", Format: "arrow", Compression: "lz4", PartitionBy: []string{"year(window_start)", "month(window_end)"}}, nil},
		{"mysql", Config{Table: "t", Catalog: "sql", CatalogDSN: "mysql://u:p@tcp(db:3306)/lake"}, nil},
		{"missing table", Config{}, []string{"table: is required"}},
		{"bad table", Config{Table: "emoji-counts"}, []string{`table: "emoji-counts" is not a table name`}},
		{"bad table dots", Config{Table: "a..b"}, []string{"table: "}},
		{"everything wrong", Config{
			Table:          "ok",
			PartitionBy:    []string{"day(n)", "matchid", "week(window_start)", "match_id", "match_id", "bucket[4](emoji", "identity()"},
			Compression:    "brotli",
			TargetFileSize: "12 parsecs",
			RollInterval:   "soon",
			Format:         "csv",
			Catalog:        "hive",
		}, []string{
			"partition_by[0]: day(n) needs a timestamp column, n is int",
			`partition_by[1]: unknown column "matchid", did you mean "match_id"?`,
			`partition_by[2]: unknown transform "week"`,
			`partition_by[5]: "bucket[4](emoji": missing ')'`,
			`partition_by[6]: "identity()" names no column`,
			`partition_by[4]: "match_id" repeats partition_by[3]`,
			`format: unknown format "csv"`,
			`compression: unknown compression "brotli"`,
			`target_file_size: not a size`,
			`roll_interval: not a duration`,
			`catalog: unknown catalog "hive"`,
		}},
		{"tiny file", Config{Table: "t", TargetFileSize: "100"}, []string{"target_file_size: 100 is below the minimum"}},
		{"negative roll", Config{Table: "t", RollInterval: "-1s"}, []string{"roll_interval: must be positive"}},
		{"float partition", Config{Table: "t", PartitionBy: []string{"score"}}, []string{"partition_by[0]: cannot partition by float column score"}},
		{"arrow codec", Config{Table: "t", Format: "arrow", Compression: "snappy"}, []string{`compression: "snappy" is not an Arrow IPC codec`}},
		{"sql without dsn", Config{Table: "t", Catalog: "sql"}, []string{"catalog_dsn: is required with catalog: sql"}},
		{"sql bad dsn", Config{Table: "t", Catalog: "sql", CatalogDSN: "postgres://x/y"}, []string{`catalog_dsn: unsupported catalog DSN scheme "postgres"`}},
		{"dsn without sql", Config{Table: "t", CatalogDSN: "sqlite:///x.db"}, []string{"catalog_dsn: is only used with catalog: sql"}},
		{"arrow with sql", Config{Table: "t", Format: "arrow", Catalog: "sql", CatalogDSN: "sqlite:///x.db"}, []string{"catalog: format arrow writes plain files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := row.Schema{Fields: append(emojiSchema.Fields[:len(emojiSchema.Fields):len(emojiSchema.Fields)], row.Field{Name: "score", Type: row.TypeFloat})}
			errs := tc.cfg.Validate(s)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), errs)
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tc.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tc.want[i])
				}
				var ce *ConfigError
				if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
					t.Errorf("error %d is not a *ConfigError wrapping ErrConfig: %T", i, err)
				}
			}
		})
	}
}

func TestConfigSchemaProblems(t *testing.T) {
	s := row.Schema{Fields: []row.Field{{Name: "a", Type: row.TypeInt}, {Name: "a", Type: row.TypeString}, {Name: "b.c", Type: row.TypeInt}, {Name: "", Type: row.TypeInt}, {Name: "d"}}}
	errs := (&Config{Table: "t"}).Validate(s)
	want := []string{`"a" appears twice`, `"b.c": names must not contain`, "empty name", `"d" has unsupported type invalid`}
	if len(errs) != len(want) {
		t.Fatalf("got %v", errs)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want %q", i, errs[i], w)
		}
	}
	if errs := (&Config{Table: "t"}).Validate(row.Schema{}); len(errs) != 1 {
		t.Fatalf("empty schema: %v", errs)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"128MiB": 128 << 20, "128mib": 128 << 20, "512MB": 512e6, "1GiB": 1 << 30, "1.5KiB": 1536, "64k": 64 << 10,
		"1048576": 1 << 20, " 2 MiB ": 2 << 20, "10B": 10, "3TB": 3e12,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1MiB", "1XB", "1e400", "NaN"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Table: "t"}
	c.ApplyDefaults()
	if c.Warehouse != "./lake" || c.Compression != "zstd" || c.TargetFileSize != "128MiB" || c.Format != "parquet" || c.Catalog != "filesystem" || c.RollInterval != "1m" {
		t.Fatalf("defaults %+v", c)
	}
	s, err := c.resolve(emojiSchema)
	if err != nil || s.targetFileSize != 128<<20 || s.table.String() != "default.t" {
		t.Fatalf("resolve: %+v %v", s, err)
	}
}

func FuzzParsePartitionField(f *testing.F) {
	for _, s := range []string{"day(window_start)", "match_id", "hour( x )", "(", ")", "day()", "bucket[3](n)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pf, err := parsePartitionField(s, emojiSchema)
		if err == nil && emojiSchema.Index(pf.Source) != pf.SourceIdx {
			t.Fatalf("%q parsed to %+v", s, pf)
		}
	})
}

func FuzzStagedUnmarshal(f *testing.F) {
	good, _ := Staged{Table: "default.t", Job: "j", Seq: 3, Files: []StagedFile{{Staging: "staging/j-t0/a.parquet.staging", Final: "data/x=1/a.parquet", Rows: 2}}}.MarshalBinary()
	f.Add(good)
	f.Add([]byte(`{"files":[{"staging":"../../etc/passwd","final":"data/a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Staged
		if err := st.UnmarshalBinary(b); err != nil {
			return
		}
		for _, fl := range st.Files {
			if !localOK(fl.Staging) || !localOK(fl.Final) {
				t.Fatalf("accepted a path outside the table: %+v", fl)
			}
		}
	})
}

// localOK: p, cleaned, stays below the directory it is relative to.
func localOK(p string) bool {
	c := path.Clean(p)
	return p != "" && !path.IsAbs(c) && c != ".." && !strings.HasPrefix(c, "../")
}

package lakehouse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/glintstream/glint/row"
)

// Defaults applied by Config.ApplyDefaults and assumed by Validate for empty fields.
const (
	DefaultWarehouse      = "./lake"
	DefaultNamespace      = "default"
	DefaultCompression    = "zstd"
	DefaultTargetFileSize = "128MiB"
	DefaultRollInterval   = "1m"
	DefaultFormat         = FormatParquet
	DefaultCatalog        = CatalogFilesystem
)

// Output formats.
const (
	FormatParquet = "parquet" // Iceberg table of Parquet files
	FormatArrow   = "arrow"   // Arrow IPC (Feather v2) files, committed by rename, no catalog
)

// Catalog kinds.
const (
	CatalogFilesystem = "filesystem" // Iceberg "Hadoop" catalog: metadata in the table directory
	CatalogSQL        = "sql"        // Iceberg SQL catalog (sqlite or mysql), by CatalogDSN
)

// minTargetFileSize keeps a typo ("128" instead of "128MiB") from producing a file per batch.
const minTargetFileSize = 1 << 10

// Config is the `lakehouse` sink section of a job file.
//
// Empty fields take the defaults above; ApplyDefaults writes them in. The parsed forms of the
// string fields (sizes, durations, partition transforms) are computed by Validate's helpers,
// so a Config that validates can be opened.
type Config struct {
	// Table is "name" (namespace "default") or "namespace.name". Letters, digits and '_'.
	Table string `yaml:"table"`
	// Warehouse is the lakehouse directory; tables live in Warehouse/namespace/name.
	Warehouse string `yaml:"warehouse"`
	// PartitionBy lists partition fields: a column (identity), or year(col), month(col),
	// day(col), hour(col) of a timestamp column.
	PartitionBy []string `yaml:"partition_by"`
	// Compression is zstd (default), snappy, gzip, lz4 or none. Arrow files: zstd, lz4, none.
	Compression string `yaml:"compression"`
	// TargetFileSize is the size at which a data file is closed and a new one started,
	// e.g. "128MiB", "512MB", "1GiB" or a byte count.
	TargetFileSize string `yaml:"target_file_size"`
	// RollInterval is how long rows may wait before Flush-on-policy commits them (FlushIfDue),
	// a Go duration such as "1m" or "30s". Checkpointed sinks commit at checkpoints instead.
	RollInterval string `yaml:"roll_interval"`
	// Format is parquet (default, an Iceberg table) or arrow (Arrow IPC files for fast local
	// reads; Iceberg has no Arrow file format, so these are plain files without a catalog).
	Format string `yaml:"format"`
	// Catalog is filesystem (default) or sql.
	Catalog string `yaml:"catalog"`
	// CatalogDSN locates the SQL catalog: "sqlite:///path/catalog.db", "sqlite://rel.db" or
	// "mysql://user:pass@tcp(host:3306)/db". Required when Catalog is sql.
	CatalogDSN string `yaml:"catalog_dsn"`
}

// ApplyDefaults fills empty fields with their defaults.
func (c *Config) ApplyDefaults() {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.Warehouse, DefaultWarehouse)
	set(&c.Compression, DefaultCompression)
	set(&c.TargetFileSize, DefaultTargetFileSize)
	set(&c.RollInterval, DefaultRollInterval)
	set(&c.Format, DefaultFormat)
	set(&c.Catalog, DefaultCatalog)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Validate reports every problem with the config for a sink whose rows have the given schema.
// Each error is a *ConfigError naming the yaml field (with an index for list entries), so the
// job-file parser can prefix its file:line:column. Empty fields are checked as their defaults.
func (c *Config) Validate(schema row.Schema) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	if c.Table == "" {
		add("table", "is required")
	} else if _, err := parseTableName(c.Table); err != nil {
		add("table", "%v", err)
	}
	if strings.TrimSpace(orDefault(c.Warehouse, DefaultWarehouse)) == "" {
		add("warehouse", "must not be blank")
	}

	errs = append(errs, validateSchema(schema)...)
	for i, p := range c.PartitionBy {
		if _, err := parsePartitionField(p, schema); err != nil {
			add(fmt.Sprintf("partition_by[%d]", i), "%v", err)
		}
	}
	seen := map[string]int{}
	for i, p := range c.PartitionBy {
		pf, err := parsePartitionField(p, schema)
		if err != nil {
			continue
		}
		if j, dup := seen[pf.Name]; dup {
			add(fmt.Sprintf("partition_by[%d]", i), "%q repeats partition_by[%d]", p, j)
		}
		seen[pf.Name] = i
	}

	format := orDefault(c.Format, DefaultFormat)
	switch format {
	case FormatParquet, FormatArrow:
	default:
		add("format", "unknown format %q: want parquet or arrow", c.Format)
	}
	comp := orDefault(c.Compression, DefaultCompression)
	if _, ok := parquetCodecs[comp]; !ok {
		add("compression", "unknown compression %q: want one of %s", c.Compression, strings.Join(codecNames, ", "))
	} else if format == FormatArrow && comp != "zstd" && comp != "lz4" && comp != "none" {
		add("compression", "%q is not an Arrow IPC codec: want zstd, lz4 or none", comp)
	}
	if _, err := ParseSize(orDefault(c.TargetFileSize, DefaultTargetFileSize)); err != nil {
		add("target_file_size", "%v", err)
	} else if n, _ := ParseSize(orDefault(c.TargetFileSize, DefaultTargetFileSize)); n < minTargetFileSize {
		add("target_file_size", "%s is below the minimum of 1KiB", c.TargetFileSize)
	}
	if d, err := time.ParseDuration(orDefault(c.RollInterval, DefaultRollInterval)); err != nil {
		add("roll_interval", "not a duration (e.g. 30s, 5m): %q", c.RollInterval)
	} else if d <= 0 {
		add("roll_interval", "must be positive, got %s", c.RollInterval)
	}

	switch orDefault(c.Catalog, DefaultCatalog) {
	case CatalogFilesystem:
		if c.CatalogDSN != "" {
			add("catalog_dsn", "is only used with catalog: sql")
		}
	case CatalogSQL:
		if format == FormatArrow {
			add("catalog", "format arrow writes plain files and uses no catalog")
		}
		if c.CatalogDSN == "" {
			add("catalog_dsn", "is required with catalog: sql")
		} else if _, _, err := parseDSN(c.CatalogDSN); err != nil {
			add("catalog_dsn", "%v", err)
		}
	default:
		add("catalog", "unknown catalog %q: want filesystem or sql", c.Catalog)
	}
	return errs
}

func validateSchema(schema row.Schema) []error {
	var errs []error
	if len(schema.Fields) == 0 {
		errs = append(errs, &ConfigError{Field: "", Msg: "the sink's input has no columns"})
	}
	seen := map[string]bool{}
	for _, f := range schema.Fields {
		switch {
		case f.Name == "":
			errs = append(errs, &ConfigError{Msg: "an input column has an empty name"})
		case strings.ContainsAny(f.Name, ",.\x00"):
			errs = append(errs, &ConfigError{Msg: fmt.Sprintf("input column %q: names must not contain ',', '.' or NUL", f.Name)})
		case seen[f.Name]:
			errs = append(errs, &ConfigError{Msg: fmt.Sprintf("input column %q appears twice", f.Name)})
		}
		seen[f.Name] = true
		if f.Type < row.TypeString || f.Type > row.TypeTimestamp {
			errs = append(errs, &ConfigError{Msg: fmt.Sprintf("input column %q has unsupported type %s", f.Name, f.Type)})
		}
	}
	return errs
}

// tableName is a parsed Config.Table.
type tableName struct {
	Namespace []string
	Name      string
}

func (t tableName) ident() []string { return append(append([]string(nil), t.Namespace...), t.Name) }

func (t tableName) String() string { return strings.Join(t.ident(), ".") }

func parseTableName(s string) (tableName, error) {
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if !isIdent(p) {
			return tableName{}, fmt.Errorf("%q is not a table name: want name or namespace.name of letters, digits and '_' (not starting with a digit)", s)
		}
	}
	if len(parts) == 1 {
		return tableName{Namespace: []string{DefaultNamespace}, Name: parts[0]}, nil
	}
	return tableName{Namespace: parts[:len(parts)-1], Name: parts[len(parts)-1]}, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
	{"B", 1},
}

// ParseSize parses a byte size such as "128MiB", "512MB", "1.5GiB", "64k" or "1048576".
// Binary (KiB, MiB, GiB, TiB; also K, M, G) and decimal (KB, MB, GB, TB) units are accepted,
// case-insensitively.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("not a size (e.g. 128MiB, 512MB): %q", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// settings are the parsed, defaulted forms of a Config.
type settings struct {
	table          tableName
	warehouse      string
	partition      []partitionField
	compression    string
	targetFileSize int64
	rollInterval   time.Duration
	format         string
	catalog        string
	dsn            string
}

// resolve validates c against schema and returns its parsed settings.
func (c Config) resolve(schema row.Schema) (settings, error) {
	c.ApplyDefaults()
	if errs := c.Validate(schema); len(errs) > 0 {
		return settings{}, &ConfigErrors{Errs: errs}
	}
	s := settings{
		warehouse:   c.Warehouse,
		compression: c.Compression,
		format:      c.Format,
		catalog:     c.Catalog,
		dsn:         c.CatalogDSN,
	}
	s.table, _ = parseTableName(c.Table)
	s.targetFileSize, _ = ParseSize(c.TargetFileSize)
	s.rollInterval, _ = time.ParseDuration(c.RollInterval)
	for _, p := range c.PartitionBy {
		pf, _ := parsePartitionField(p, schema)
		s.partition = append(s.partition, pf)
	}
	return s, nil
}

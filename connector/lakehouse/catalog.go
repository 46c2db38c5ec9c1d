package lakehouse

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hadoop"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"

	"github.com/glintstream/glint/row"

	_ "github.com/go-sql-driver/mysql" // "mysql" driver for catalog: sql (pure Go)
	_ "modernc.org/sqlite"             // "sqlite" driver for catalog: sql (pure Go)
)

// Catalog is an open Iceberg catalog for a warehouse, shared by the sink, maintenance and
// inspection. Safe for concurrent use (as iceberg-go's catalogs are); Close releases it.
type Catalog struct {
	cat       catalog.Catalog
	db        *sql.DB // sql catalogs only
	warehouse string  // absolute
	kind      string
}

// CatalogOptions selects a catalog: Kind is filesystem (default) or sql with DSN.
type CatalogOptions struct {
	Warehouse string
	Kind      string
	DSN       string
}

// OpenCatalog opens the catalog of a warehouse, creating the warehouse directory if needed.
func OpenCatalog(ctx context.Context, o CatalogOptions) (*Catalog, error) {
	if o.Warehouse == "" {
		o.Warehouse = DefaultWarehouse
	}
	wh, err := filepath.Abs(o.Warehouse)
	if err != nil {
		return nil, fmt.Errorf("lakehouse: warehouse %q: %w", o.Warehouse, err)
	}
	if err := os.MkdirAll(wh, 0o755); err != nil {
		return nil, fmt.Errorf("lakehouse: create warehouse: %w", err)
	}
	c := &Catalog{warehouse: wh, kind: orDefault(o.Kind, CatalogFilesystem)}
	switch c.kind {
	case CatalogFilesystem:
		hc, err := hadoop.NewCatalog("glint", wh, iceberg.Properties{"warehouse": wh})
		if err != nil {
			return nil, fmt.Errorf("lakehouse: open filesystem catalog: %w", err)
		}
		c.cat = hc
	case CatalogSQL:
		driver, dsn, err := parseDSN(o.DSN)
		if err != nil {
			return nil, err
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("lakehouse: open catalog database: %w", err)
		}
		dialect := sqlcat.SQLite
		if driver == "mysql" {
			dialect = sqlcat.MySQL
		} else {
			// One connection: sqlite serialises writers anyway, and a single connection
			// keeps the WAL and busy-timeout pragmas of the DSN in force.
			db.SetMaxOpenConns(1)
		}
		sc, err := sqlcat.NewCatalog("glint", db, dialect, iceberg.Properties{"warehouse": "file://" + wh})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("lakehouse: open sql catalog: %w", err)
		}
		c.cat, c.db = sc, db
	default:
		return nil, fmt.Errorf("%w: unknown catalog %q", ErrConfig, o.Kind)
	}
	_ = ctx
	return c, nil
}

// Close releases the catalog.
func (c *Catalog) Close() error {
	var err error
	if cl, ok := c.cat.(catalog.Closer); ok {
		err = cl.Close()
	}
	if c.db != nil {
		err = errors.Join(err, c.db.Close())
	}
	return err
}

// Warehouse is the absolute warehouse directory.
func (c *Catalog) Warehouse() string { return c.warehouse }

// parseDSN maps a catalog_dsn to a database/sql driver and its DSN.
//
//	sqlite:///abs/path.db, sqlite://rel/path.db, sqlite:path.db → modernc.org/sqlite, WAL, busy timeout
//	mysql://user:pass@tcp(host:3306)/db                         → go-sql-driver/mysql
func parseDSN(dsn string) (driver, conn string, err error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%q is not a catalog DSN: want sqlite:///path/catalog.db or mysql://user:pass@tcp(host:3306)/db", dsn)
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return "", "", fmt.Errorf("%q names no database file", dsn)
		}
		if q := strings.IndexByte(path, '?'); q >= 0 {
			path = path[:q]
		}
		return "sqlite", "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate", nil
	case "mysql":
		conn := strings.TrimPrefix(rest, "//")
		if conn == "" {
			return "", "", fmt.Errorf("%q names no database", dsn)
		}
		return "mysql", conn, nil
	}
	return "", "", fmt.Errorf("unsupported catalog DSN scheme %q: want sqlite or mysql (postgres needs a driver glint does not link)", scheme)
}

// ensureNamespace creates ns (and its parents) if missing.
func (c *Catalog) ensureNamespace(ctx context.Context, ns []string) error {
	for i := 1; i <= len(ns); i++ {
		part := table.Identifier(ns[:i])
		ok, err := c.cat.CheckNamespaceExists(ctx, part)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if err := c.cat.CreateNamespace(ctx, part, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return err
		}
	}
	return nil
}

// loadTable loads a table by its dotted name; ErrNoTable if it does not exist.
func (c *Catalog) loadTable(ctx context.Context, name tableName) (*table.Table, error) {
	t, err := c.cat.LoadTable(ctx, name.ident())
	if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace) {
		return nil, fmt.Errorf("%w: %s", ErrNoTable, name)
	}
	return t, err
}

// LoadTable loads a table by its name as written in a job file ("name" or "ns.name").
func (c *Catalog) LoadTable(ctx context.Context, name string) (*table.Table, error) {
	tn, err := parseTableName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return c.loadTable(ctx, tn)
}

// tableProperties are set on tables the sink creates. A streaming sink commits often: old
// metadata files are deleted after each commit, keeping the last 20 (readers of an older
// version finish before it is 20 commits old), so the metadata directory does not grow by one
// file per commit forever.
var tableProperties = iceberg.Properties{
	"format-version":                             "2",
	"write.format.default":                       "parquet",
	"write.parquet.compression-codec":            "zstd",
	"write.metadata.delete-after-commit.enabled": "true",
	"write.metadata.previous-versions-max":       "20",
}

// openTable loads the table, creating it (with spec) on first use, and adds the input's new
// columns to it. A column whose type differs is a *TypeChangedError; a table partitioned
// differently from the config is an error too.
func (c *Catalog) openTable(ctx context.Context, s settings, schema row.Schema, retries int) (*table.Table, error) {
	tbl, err := c.loadTable(ctx, s.table)
	if errors.Is(err, ErrNoTable) {
		if err := c.ensureNamespace(ctx, s.table.Namespace); err != nil {
			return nil, fmt.Errorf("lakehouse: create namespace %v: %w", s.table.Namespace, err)
		}
		sc := newIcebergSchema(schema)
		spec, err := icebergSpec(s.partition, sc)
		if err != nil {
			return nil, err
		}
		props := iceberg.Properties{}
		for k, v := range tableProperties {
			props[k] = v
		}
		props["write.parquet.compression-codec"] = icebergCodecName(s.compression)
		tbl, err = c.cat.CreateTable(ctx, s.table.ident(), sc,
			catalog.WithPartitionSpec(&spec), catalog.WithProperties(props))
		if errors.Is(err, catalog.ErrTableAlreadyExists) { // another writer created it first
			tbl, err = c.loadTable(ctx, s.table)
		}
		if err != nil {
			return nil, fmt.Errorf("lakehouse: create table %s: %w", s.table, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("lakehouse: load table %s: %w", s.table, err)
	}

	// Schema evolution: add the input's new columns, in one commit, retried on conflict.
	tbl, err = commitRetry(ctx, c, s.table, tbl, retries, func(t *table.Table) (bool, error) {
		add, err := evolution(s.table.String(), schema, t.Schema())
		return len(add) == 0, err
	}, func(txn *table.Transaction, t *table.Table) error {
		add, err := evolution(s.table.String(), schema, t.Schema())
		if err != nil {
			return err
		}
		us := txn.UpdateSchema(true, false)
		for _, f := range add {
			us.AddColumn([]string{f.Name}, icebergType(f.Type), "", false, nil)
		}
		return us.Commit()
	})
	if err != nil {
		return nil, err
	}
	if !specMatches(tbl.Spec(), s.partition, tbl.Schema()) {
		want := make([]string, len(s.partition))
		for i, p := range s.partition {
			want[i] = p.Spec
		}
		return nil, fmt.Errorf("%w: table %s is partitioned by [%s] but partition_by is [%s]",
			ErrConfig, s.table, describeSpec(tbl.Spec(), tbl.Schema()), strings.Join(want, ", "))
	}
	return tbl, nil
}

// icebergCodecName is the write.parquet.compression-codec value for a compression setting.
func icebergCodecName(c string) string {
	if c == "none" {
		return "uncompressed"
	}
	return c
}

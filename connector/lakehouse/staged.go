package lakehouse

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Staged lists the files a Prepare wrote and synced under staging names, and where Commit will
// publish them. It is plain data, serialisable (JSON) so a checkpoint manifest can carry it
// and hand it back to Recover after a crash. Paths are relative to the table directory, so a
// task restored on another machine that mounts the warehouse elsewhere still finds them.
type Staged struct {
	Table string       `json:"table"` // table name as configured, e.g. "default.emoji_counts"
	Job   string       `json:"job"`
	Task  int          `json:"task"`
	Seq   uint64       `json:"seq"`
	Files []StagedFile `json:"files,omitempty"`
}

// StagedFile is one staged data file.
type StagedFile struct {
	Staging string `json:"staging"` // where it is now, e.g. staging/job-t0/3f2a….parquet.staging
	Final   string `json:"final"`   // where Commit moves it, e.g. data/day=2024-05-01/job-t0-s7-000-….parquet
	Rows    int64  `json:"rows"`
	Bytes   int64  `json:"bytes"`
}

// Rows is the number of rows in all files.
func (s Staged) Rows() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Rows
	}
	return n
}

// MarshalBinary and UnmarshalBinary encode a Staged as JSON for checkpoint manifests.
func (s Staged) MarshalBinary() ([]byte, error) { return json.Marshal(s) }

// UnmarshalBinary decodes what MarshalBinary encoded, checking the paths stay inside the table.
func (s *Staged) UnmarshalBinary(b []byte) error {
	var v Staged
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("lakehouse: decode staged files: %w", err)
	}
	for _, f := range v.Files {
		for _, p := range []string{f.Staging, f.Final} {
			if !filepath.IsLocal(filepath.FromSlash(p)) {
				return fmt.Errorf("lakehouse: decode staged files: path %q leaves the table directory", p)
			}
		}
	}
	*s = v
	return nil
}

// Snapshot summary properties that mark a sink commit, and the table property prefix that
// records each (job, task)'s highest committed sequence number.
const (
	PropJob       = "glint.job"
	PropTask      = "glint.task"
	PropSeq       = "glint.seq"
	PropOperation = "glint.operation" // "append" from the sink, "compact" from compaction
	propHWMPrefix = "glint.committed-seq."
)

func hwmKey(job string, task int) string {
	return propHWMPrefix + job + ".t" + strconv.Itoa(task)
}

const (
	stagingDirName = "staging"
	stagingSuffix  = ".staging" // "x.parquet.staging": no *.parquet glob matches it
	intentPrefix   = "commit-"
	intentSuffix   = ".json"
)

// safeName makes a job name usable in file names: letters, digits, '-' and '_' only.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "job"
	}
	return b.String()
}

func randHex() string { return strconv.FormatUint(rand.Uint64()|1<<63, 16)[1:] }

// fsyncDir makes a directory's entries (created or renamed files) durable.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsyncDirs syncs several directories concurrently: a commit touches one per partition, and
// the file system can overlap their journal writes.
func fsyncDirs(dirs map[string]bool) error {
	errs := make(chan error, len(dirs))
	for d := range dirs {
		go func() {
			if err := fsyncDir(d); err != nil {
				errs <- fmt.Errorf("lakehouse: sync %s: %w", d, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range dirs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeFileSync writes a small file durably: temp file, fsync, rename, fsync the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp" + stagingSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := syncClose(f, 0); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return fsyncDir(filepath.Dir(path))
}

// localPath turns a table location ("/abs", "file:///abs", "file:/abs") into a local path.
func localPath(loc string) string {
	switch {
	case strings.HasPrefix(loc, "file://"):
		return strings.TrimPrefix(loc, "file://")
	case strings.HasPrefix(loc, "file:"):
		return strings.TrimPrefix(loc, "file:")
	}
	return loc
}

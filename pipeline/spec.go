package pipeline

import (
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/glintstream/glint/connector/lakehouse"
	"github.com/glintstream/glint/internal/strictyaml"
)

// Job is a job file, decoded. Defaults are applied by Load; Compile validates it and builds the
// plan. Field names here are the YAML names; see the README's job file reference.
type Job struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Brokers     []string `yaml:"brokers"` // empty: the embedded broker

	Sources  []Source `yaml:"sources"`
	Pipeline []Step   `yaml:"pipeline"`
	Sinks    []Sink   `yaml:"sinks"`

	DeadLetter DeadLetter     `yaml:"dead_letter"`
	Metrics    MetricsSpec    `yaml:"metrics"`
	Checkpoint CheckpointSpec `yaml:"checkpoint"`
	Group      GroupSpec      `yaml:"group"`

	// File is where the job was read from; pos where each field was written in it.
	File string               `yaml:"-"`
	pos  strictyaml.Positions `yaml:"-"`
}

// Source is one Kafka input topic.
type Source struct {
	Name          string                        `yaml:"name"`
	Topic         string                        `yaml:"topic"`
	Format        string                        `yaml:"format"`
	Fields        strictyaml.Ordered[FieldSpec] `yaml:"fields"`
	EventTime     EventTime                     `yaml:"event_time"`
	Watermark     Watermark                     `yaml:"watermark"`
	Start         string                        `yaml:"start"`
	PartitionedBy strictyaml.StringOrList       `yaml:"partitioned_by"`
}

// FieldSpec is a field's type, written either as a type name (`ts: timestamp`) or as a mapping
// (`ts: {type: timestamp, path: meta.ts, encoding: epoch_s, optional: true}`).
type FieldSpec struct {
	Type     string `yaml:"type"`
	Path     string `yaml:"path"`
	Encoding string `yaml:"encoding"`
	Optional bool   `yaml:"optional"`
}

// UnmarshalStrictYAML implements strictyaml.Unmarshaler.
func (f *FieldSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		f.Type = n.Value
		return
	}
	type plain FieldSpec // no UnmarshalStrictYAML: decode as a struct
	var p plain
	d.Decode(n, path, reflectValue(&p))
	*f = FieldSpec(p)
}

// EventTime names the field that carries event time and how it is encoded.
type EventTime struct {
	Field    string `yaml:"field"`
	Encoding string `yaml:"encoding"` // epoch_ms (default), epoch_us, epoch_s, rfc3339
}

// Watermark configures a source's watermark.
type Watermark struct {
	MaxOutOfOrderness strictyaml.Duration `yaml:"max_out_of_orderness"`
	IdleTimeout       strictyaml.Duration `yaml:"idle_timeout"`
}

// Step is one operator of the pipeline: exactly one of its fields is set.
type Step struct {
	Filter    *string                    `yaml:"filter"`
	Compute   strictyaml.Ordered[string] `yaml:"compute"`
	KeyBy     strictyaml.StringOrList    `yaml:"key_by"`
	Window    *WindowSpec                `yaml:"window"`
	Aggregate strictyaml.Ordered[string] `yaml:"aggregate"`
}

// WindowSpec is a keyed event-time window.
type WindowSpec struct {
	Type            string              `yaml:"type"` // tumbling, sliding, session
	Size            strictyaml.Duration `yaml:"size"`
	Slide           strictyaml.Duration `yaml:"slide"`
	Gap             strictyaml.Duration `yaml:"gap"`
	AllowedLateness strictyaml.Duration `yaml:"allowed_lateness"`
}

// Sink is one output.
type Sink struct {
	Name  string                  `yaml:"name"`
	Type  string                  `yaml:"type"` // kafka, stdout, lakehouse
	Topic string                  `yaml:"topic"`
	Key   strictyaml.StringOrList `yaml:"key"`
	// Lakehouse configures a lakehouse sink: an Iceberg table of Parquet files.
	Lakehouse *lakehouse.Config `yaml:"lakehouse"`
}

// DeadLetter configures the dead-letter topic for records that cannot be processed.
type DeadLetter struct {
	Topic string `yaml:"topic"` // default <name>.dlq
}

// CheckpointSpec configures barrier checkpoints. With no interval, a job commits offsets as
// its windows close (at-least-once) and keeps no state across restarts.
type CheckpointSpec struct {
	Interval strictyaml.Duration `yaml:"interval"` // e.g. 10s; 0 disables checkpoints
	Storage  string              `yaml:"storage"`  // a directory or URL (file://, mem://); default ./glint-data/checkpoints
	Keep     int                 `yaml:"keep"`     // complete checkpoints kept per task; default 3
	// Mode is exactly_once (default: Kafka output in per-task transactions committed with
	// each checkpoint, visible to read_committed readers once it completes) or
	// at_least_once (no transactions; rows after the last checkpoint are produced again,
	// identically, after a failure).
	Mode string `yaml:"mode"`
}

// GroupSpec configures the job's Kafka consumer group (its id is the job's name).
type GroupSpec struct {
	// SessionTimeout is how long the group waits for a silent worker before its partitions
	// move to the others (Kafka's session.timeout.ms); default 45s.
	SessionTimeout strictyaml.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is how often a worker tells the group it is alive; default
	// min(3s, session_timeout/3).
	HeartbeatInterval strictyaml.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long a rebalance waits for every worker to rejoin (Kafka's
	// rebalance.timeout.ms); a worker that dies while joining holds the group up this long.
	// It must cover a revoke, which takes a last checkpoint. Default 60s.
	RebalanceTimeout strictyaml.Duration `yaml:"rebalance_timeout"`
}

// MetricsSpec configures the Prometheus endpoint.
type MetricsSpec struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9249; "off" disables
}

// Load reads and decodes a job file and applies defaults. It reports every decoding problem at
// once; call Compile to validate the job's meaning.
func Load(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes job file contents; file names the source in errors.
func Parse(file string, data []byte) (*Job, error) {
	j := &Job{File: file}
	pos, err := strictyaml.Decode(file, data, j)
	j.pos = pos
	if err != nil {
		return nil, err
	}
	j.applyDefaults()
	return j, nil
}

// Defaults, in one place.
const (
	DefaultFormat        = "json"
	DefaultTimeEncoding  = "epoch_ms"
	DefaultStart         = "earliest"
	DefaultMetricsListen = "127.0.0.1:9249"

	DefaultCheckpointStorage = "glint-data/checkpoints"
)

func (j *Job) applyDefaults() {
	for i := range j.Sources {
		s := &j.Sources[i]
		if s.Name == "" {
			s.Name = s.Topic
		}
		if s.Format == "" {
			s.Format = DefaultFormat
		}
		if s.EventTime.Encoding == "" {
			s.EventTime.Encoding = DefaultTimeEncoding
		}
		if s.Start == "" {
			s.Start = DefaultStart
		}
	}
	for i := range j.Sinks {
		if l := j.Sinks[i].Lakehouse; l != nil {
			l.ApplyDefaults()
			if j.Sinks[i].Name == "" {
				j.Sinks[i].Name = l.Table
			}
		}
		if j.Sinks[i].Name == "" {
			j.Sinks[i].Name = j.Sinks[i].Type
			if j.Sinks[i].Topic != "" {
				j.Sinks[i].Name = j.Sinks[i].Topic
			}
		}
	}
	if j.DeadLetter.Topic == "" && j.Name != "" {
		j.DeadLetter.Topic = j.Name + ".dlq"
	}
	if j.Checkpoint.Storage == "" {
		j.Checkpoint.Storage = DefaultCheckpointStorage
	}
	if j.Checkpoint.Mode == "" {
		j.Checkpoint.Mode = "exactly_once"
	}
	if j.Group.SessionTimeout == 0 {
		j.Group.SessionTimeout = strictyaml.Duration(45 * time.Second)
	}
	if j.Group.RebalanceTimeout == 0 {
		j.Group.RebalanceTimeout = strictyaml.Duration(time.Minute)
	}
	if j.Group.HeartbeatInterval == 0 {
		j.Group.HeartbeatInterval = strictyaml.Duration(min(3*time.Second, j.Group.SessionTimeout.D()/3))
	}
	if j.Checkpoint.Keep == 0 {
		j.Checkpoint.Keep = 3
	}
	if j.Metrics.Listen == "" {
		j.Metrics.Listen = DefaultMetricsListen
	}
}

// Pos returns where the field at path was written (or its nearest parent).
func (j *Job) Pos(path string) strictyaml.Pos { return j.pos.Lookup(path) }

package checkpoint

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Manifest describes checkpoint ID of one task of a job. Once its encoding is on storage the
// checkpoint is committed: recovery restores exactly what it names.
type Manifest struct {
	Job  string `json:"job"`
	Task int32  `json:"task"` // the task's id, the partition number of its inputs
	ID   uint64 `json:"id"`   // checkpoint number; increases with every checkpoint of the task
	// Created is when the checkpoint was saved (Save fills it in from the store's clock
	// if zero). Informational only: nothing orders or selects checkpoints by it.
	Created time.Time `json:"created"`
	// Inputs are the offsets at the barrier: the next offset to read from each input
	// partition when restoring.
	Inputs []InputOffset `json:"inputs"`
	// Watermark is the task's event-time watermark at the barrier (ms; math.MinInt64 when
	// none yet, math.MaxInt64 once every input has ended).
	Watermark int64 `json:"watermark"`
	// StateKey, StateSize and StateCRC (CRC-32C) locate and check the operator-state blob.
	// Save sets all three; StateKey is empty for a checkpoint saved without state.
	StateKey  string `json:"state_key"`
	StateSize int64  `json:"state_size"`
	StateCRC  uint32 `json:"state_crc"`
	// Sinks hold each sink's pre-commit description, opaque to this package (a staged
	// lakehouse file list, a Kafka transactional id and epoch). Names are unique.
	Sinks []SinkState `json:"sinks"`
	// Meta is free-form information (glint version, job file hash, ...).
	Meta map[string]string `json:"meta,omitempty"`
}

// InputOffset is the position of one input partition at a barrier.
type InputOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"` // next offset to read
}

// SinkState is one sink's pre-commit data. The caller owns Data; Save does not keep it.
type SinkState struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// Sink returns the data of the sink called name, and whether it is present.
func (m *Manifest) Sink(name string) ([]byte, bool) {
	for _, s := range m.Sinks {
		if s.Name == name {
			return s.Data, true
		}
	}
	return nil, false
}

// validate reports every problem that stops m from being saved, joined in one error
// wrapping ErrInvalid. The state fields are not checked: Save sets them.
func (m *Manifest) validate() error {
	var probs []string
	if err := validJob(m.Job); err != nil {
		probs = append(probs, err.Error())
	}
	if m.Task < 0 {
		probs = append(probs, fmt.Sprintf("task %d is negative", m.Task))
	}
	for i, in := range m.Inputs {
		if in.Topic == "" {
			probs = append(probs, fmt.Sprintf("inputs[%d]: empty topic", i))
		}
		if in.Partition < 0 {
			probs = append(probs, fmt.Sprintf("inputs[%d]: partition %d is negative", i, in.Partition))
		}
	}
	seen := make(map[string]bool, len(m.Sinks))
	for i, s := range m.Sinks {
		switch {
		case s.Name == "":
			probs = append(probs, fmt.Sprintf("sinks[%d]: empty name", i))
		case seen[s.Name]:
			probs = append(probs, fmt.Sprintf("sinks[%d]: duplicate name %q", i, s.Name))
		}
		seen[s.Name] = true
	}
	if _, ok := m.Meta[""]; ok {
		probs = append(probs, "meta: empty key")
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: manifest for job %q task %d id %d: %s", ErrInvalid, m.Job, m.Task, m.ID, strings.Join(probs, "; "))
}

// validJob checks that a job name is usable as the first segment of a storage key: not
// empty, no "/", not "." or "..", no control characters, valid UTF-8, at most 200 bytes.
func validJob(job string) error {
	switch {
	case job == "":
		return fmt.Errorf("empty job name")
	case job == "." || job == "..":
		return fmt.Errorf("job name %q is not allowed", job)
	case len(job) > 200:
		return fmt.Errorf("job name is %d bytes, more than 200", len(job))
	case !utf8.ValidString(job):
		return fmt.Errorf("job name %q is not valid UTF-8", job)
	case strings.ContainsAny(job, "/\\"):
		return fmt.Errorf("job name %q contains a slash", job)
	}
	for _, r := range job {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("job name %q contains a control character", job)
		}
	}
	return nil
}

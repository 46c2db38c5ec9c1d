package pipeline

import (
	"log/slog"
	"slices"
	"time"

	"github.com/glintstream/glint/format"
)

// Env is the explicit environment a job is compiled and run in: the record formats and sink
// types available, the clock and the logger. The CLI builds one; tests build their own. There
// are no package-level registries.
type Env struct {
	Formats *format.Registry
	Clock   Clock
	Logger  *slog.Logger
}

// NewEnv returns an environment with the built-in formats and sinks, the wall clock and the
// default logger.
func NewEnv() *Env {
	return &Env{Formats: format.NewRegistry(), Clock: wallClock{}, Logger: slog.Default()}
}

// SinkTypes lists the sink types jobs may name.
func (e *Env) SinkTypes() []string { return slices.Clone(sinkTypes) }

var sinkTypes = []string{"kafka", "lakehouse", "stdout"}

// Clock is processing time, injected so tests control it. Operators never read it; the task
// driver uses it for idle timeouts and metrics.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

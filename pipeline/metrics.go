package pipeline

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a worker's Prometheus metrics, on a registry of its own (no globals). Every
// record that does not reach a sink is counted under the reason it did not.
type Metrics struct {
	Registry *prometheus.Registry

	RecordsIn    *prometheus.CounterVec
	RecordsOut   *prometheus.CounterVec
	Filtered     *prometheus.CounterVec
	Late         *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	Watermark    *prometheus.GaugeVec
	WatermarkLag *prometheus.GaugeVec
	OpenWindows  *prometheus.GaugeVec
	Keys         *prometheus.GaugeVec
	Paused       *prometheus.CounterVec

	Checkpoints        *prometheus.CounterVec
	CheckpointFailures *prometheus.CounterVec
	CheckpointSeconds  *prometheus.GaugeVec
	CheckpointBytes    *prometheus.GaugeVec
	// CheckpointAlignment: a task owns all its inputs, so no barrier waits for another input;
	// what remains is the batch in progress when the barrier is due.
	CheckpointAlignment *prometheus.GaugeVec
	CheckpointPause     *prometheus.GaugeVec
}

// NewMetrics creates the metrics of one job.
func NewMetrics(job string) *Metrics {
	r := prometheus.NewRegistry()
	l := prometheus.Labels{"job": job}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "glint", Name: name, Help: help, ConstLabels: l}, labels)
		r.MustRegister(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "glint", Name: name, Help: help, ConstLabels: l}, labels)
		r.MustRegister(g)
		return g
	}
	return &Metrics{
		Registry:     r,
		RecordsIn:    counter("records_in_total", "Records read from Kafka.", "task"),
		RecordsOut:   counter("records_out_total", "Rows written to sinks.", "task", "sink"),
		Filtered:     counter("records_filtered_total", "Records removed by a filter step.", "task"),
		Late:         counter("records_late_total", "Records that missed a closed window (sent to the dead-letter topic).", "task"),
		DeadLettered: counter("records_dead_lettered_total", "Records sent to the dead-letter topic, by class (decode, late, expression).", "task", "class"),
		Watermark:    gauge("watermark_ms", "The task's event-time watermark, ms since the epoch.", "task"),
		WatermarkLag: gauge("watermark_lag_ms", "Processing time minus the task's watermark, ms.", "task"),
		OpenWindows:  gauge("open_windows", "Windows holding state.", "task"),
		Keys:         gauge("window_keys", "(window, key) states held.", "task"),
		Paused:       counter("backpressure_pauses_total", "Times fetching was paused because the task fell behind.", "task"),

		Checkpoints:         counter("checkpoints_total", "Checkpoints completed.", "task"),
		CheckpointFailures:  counter("checkpoint_failures_total", "Checkpoints that failed (the job goes on; the next one retries).", "task"),
		CheckpointSeconds:   gauge("checkpoint_duration_seconds", "Duration of the last checkpoint, barrier to durable manifest.", "task"),
		CheckpointBytes:     gauge("checkpoint_state_bytes", "State size of the last checkpoint.", "task"),
		CheckpointAlignment: gauge("checkpoint_alignment_seconds", "Time from the last checkpoint's barrier being due to its cut (the batch in progress finishing; inputs need no alignment).", "task"),
		CheckpointPause:     gauge("checkpoint_pause_seconds", "Time the task stopped processing input for the last checkpoint (state capture, staging; all of it when written synchronously).", "task"),
	}
}

type taskMetrics struct {
	in, filtered, late prometheus.Counter
	dlq                map[string]prometheus.Counter
	out                []prometheus.Counter // per sink
	wm, wmLag          prometheus.Gauge
	windows, keys      prometheus.Gauge
	paused             prometheus.Counter
}

func (m *Metrics) forTask(id int32, sinks []string) *taskMetrics {
	t := strconv.Itoa(int(id))
	tm := &taskMetrics{
		in: m.RecordsIn.WithLabelValues(t), filtered: m.Filtered.WithLabelValues(t), late: m.Late.WithLabelValues(t),
		dlq: map[string]prometheus.Counter{},
		wm:  m.Watermark.WithLabelValues(t), wmLag: m.WatermarkLag.WithLabelValues(t),
		windows: m.OpenWindows.WithLabelValues(t), keys: m.Keys.WithLabelValues(t),
		paused: m.Paused.WithLabelValues(t),
	}
	for _, c := range []string{"decode", "late", "expression"} {
		tm.dlq[c] = m.DeadLettered.WithLabelValues(t, c)
	}
	for _, s := range sinks {
		tm.out = append(tm.out, m.RecordsOut.WithLabelValues(t, s))
	}
	return tm
}

// Totals reads the metrics back, for dashboards and summaries: each metric's series summed over
// tasks and labels, by name without the "glint_" prefix; for watermark_lag_ms the largest lag
// of any task, and for watermark_ms the smallest watermark.
func (m *Metrics) Totals() map[string]float64 {
	out := map[string]float64{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		name := strings.TrimPrefix(mf.GetName(), "glint_")
		first := true
		for _, s := range mf.GetMetric() {
			var v float64
			switch {
			case s.GetCounter() != nil:
				v = s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				v = s.GetGauge().GetValue()
			}
			switch {
			case name == "watermark_lag_ms" && !first:
				out[name] = max(out[name], v)
			case name == "watermark_ms" && !first:
				out[name] = min(out[name], v)
			default:
				out[name] += v
			}
			first = false
		}
	}
	return out
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

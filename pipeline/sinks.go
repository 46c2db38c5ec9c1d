package pipeline

import (
	"bufio"
	"context"
	"io"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/format"
	"github.com/glintstream/glint/row"
)

// RowSink receives a job's result rows. Write may be called from several task goroutines at
// once and must not keep r (or its strings) after it returns: copy what it keeps. A Write or
// Flush error stops the job.
type RowSink interface {
	Write(ctx context.Context, r row.Row) error
	// Flush returns once everything written so far is durable in the sink.
	Flush(ctx context.Context) error
}

// kafkaRows writes rows as JSON objects to a topic; the record key is the key columns (the
// column's text for one column, a JSON object of them for several).
type kafkaRows struct {
	topic  string
	schema row.Schema
	keyIdx []int
	keySch row.Schema
	p      *kafka.Producer
}

func newKafkaRows(sp SinkPlan, schema row.Schema, p *kafka.Producer) *kafkaRows {
	k := &kafkaRows{topic: sp.Spec.Topic, schema: schema, keyIdx: sp.KeyIdx, p: p}
	for _, i := range sp.KeyIdx {
		k.keySch.Fields = append(k.keySch.Fields, schema.Fields[i])
	}
	return k
}

func (k *kafkaRows) Write(ctx context.Context, r row.Row) error {
	rec := &kgo.Record{Topic: k.topic, Value: format.AppendJSON(make([]byte, 0, 128), k.schema, r)}
	switch len(k.keyIdx) {
	case 0:
	case 1:
		i := k.keyIdx[0]
		rec.Key = r[i].AppendText(nil, k.schema.Fields[i].Type)
	default:
		kr := make(row.Row, len(k.keyIdx))
		for j, i := range k.keyIdx {
			kr[j] = r[i]
		}
		rec.Key = format.AppendJSON(nil, k.keySch, kr)
	}
	k.p.Produce(ctx, rec)
	return k.p.Err()
}

func (k *kafkaRows) Flush(ctx context.Context) error { return k.p.Flush(ctx) }

// stdoutRows writes rows as JSON lines.
type stdoutRows struct {
	schema row.Schema
	mu     struct {
		sync.Mutex
		w   *bufio.Writer
		buf []byte
	}
}

func newStdoutRows(schema row.Schema, w io.Writer) *stdoutRows {
	s := &stdoutRows{schema: schema}
	s.mu.w = bufio.NewWriter(w)
	return s
}

func (s *stdoutRows) Write(_ context.Context, r row.Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.buf = append(format.AppendJSON(s.mu.buf[:0], s.schema, r), '\n')
	_, err := s.mu.w.Write(s.mu.buf)
	return err
}

func (s *stdoutRows) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.w.Flush()
}

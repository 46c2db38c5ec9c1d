package kafka

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Dead-letter record headers. The record's key and value are the original record's, byte for
// byte, so it can be inspected and replayed.
const (
	HeaderReason    = "glint.reason"
	HeaderClass     = "glint.class" // decode, late, expression
	HeaderTopic     = "glint.topic"
	HeaderPartition = "glint.partition"
	HeaderOffset    = "glint.offset"
	HeaderJob       = "glint.job"
)

// DeadLetter classes.
const (
	ClassDecode     = "decode"
	ClassLate       = "late"
	ClassExpression = "expression"
)

// DeadLetter writes records that cannot be processed to the dead-letter topic.
type DeadLetter struct {
	Topic string
	Job   string
	P     *Producer
}

// Write sends the original record r to the dead-letter topic with why it was refused.
func (d *DeadLetter) Write(ctx context.Context, r *kgo.Record, class, reason string) {
	out := &kgo.Record{
		Topic:     d.Topic,
		Key:       r.Key,
		Value:     r.Value,
		Timestamp: r.Timestamp,
		Headers: []kgo.RecordHeader{
			{Key: HeaderReason, Value: []byte(reason)},
			{Key: HeaderClass, Value: []byte(class)},
			{Key: HeaderTopic, Value: []byte(r.Topic)},
			{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
			{Key: HeaderOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
			{Key: HeaderJob, Value: []byte(d.Job)},
		},
	}
	d.P.Produce(ctx, out)
}

// Header returns the value of the named header of r, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Package kafka is Glint's edge to Kafka: the embedded broker (franz-go's kfake, persistent to
// a data directory), topic administration, the producing sink for result rows and the
// dead-letter writer. Consumption is driven by the pipeline's worker, which owns the
// consumer-group client because it decides when offsets may be committed.
//
// Everything here speaks the Kafka protocol over TCP, so the same code runs against the
// embedded broker, Apache Kafka or Redpanda.
package kafka

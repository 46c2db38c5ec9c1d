// Package row is Glint's data model, shared by operators and connectors: a Schema of typed
// fields and Rows of Values in schema order.
//
// A Value carries no type of its own; its Schema field says which of I, F or S is meaningful.
// That keeps a Value a plain struct (no interface boxing on the hot path) and a Row a flat slice
// that the task driver reuses from batch to batch.
//
// Ownership: strings in a Row handed to an operator may alias the bytes of a fetched Kafka record
// and are valid only for the duration of that call. Whoever keeps a string beyond the call (a
// window key, a first/last value, a distinct set) copies it with strings.Clone.
package row

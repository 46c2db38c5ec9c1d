// Package agg holds the aggregate functions of windowed operators: count, sum, min, max, avg,
// count_distinct, approx_count_distinct, first and last.
//
// An aggregate's running state is an Accumulator, a plain struct the window operator keeps one of
// per (window, key, aggregate). A Func is stateless and shared: it adds values to an accumulator,
// merges two accumulators (session windows merge when a gap closes), and reads the result.
// Nothing here reads a clock or does IO.
//
// Use:
//
//	fn, arg, err := agg.ParseSpec("sum(amount)")    // job-file text
//	f, err := agg.New(fn, schema.Fields[i].Type, arg != "")
//	var acc agg.Accumulator
//	f.Add(&acc, row[i], eventTime, seq)             // per record; no allocation for count, sum,
//	                                                 // min, max, avg of numbers
//	out := f.Result(&acc)                           // of type f.ResultType()
//	snap = agg.AppendAccumulator(snap, f, &acc)     // at a checkpoint barrier
//	rest, err := agg.ReadAccumulator(snap, f, &acc) // on restore
//
// Semantics shared by all functions:
//   - Null inputs are skipped, except by count(), which counts rows. An aggregate of no
//     (non-null) values is null, except the counts (count, count_distinct,
//     approx_count_distinct), which are 0.
//   - Results do not depend on the order of Add and Merge calls (merging accumulators of any
//     split of the input gives what adding all of it gives), with one exception: float sums and
//     averages are subject to floating-point rounding, which depends on the order of additions.
//   - Integer sums wrap around on overflow (two's complement), which keeps them associative.
//   - min and max ignore NaN and order -0 before +0, so that their result is order independent.
//   - first and last pick the value with the smallest (last: largest) event time; equal event
//     times are broken by the arrival sequence (first: smallest seq wins, last: largest). They
//     skip nulls.
//   - count_distinct is exact: it keeps every distinct value (strings are cloned when stored).
//     Floats are compared by value: -0 equals +0 and all NaNs are one value.
//   - approx_count_distinct is a HyperLogLog sketch (github.com/axiomhq/hyperloglog, precision
//     14, about 0.8% standard error), hashed with the sketch's fixed-seed MetroHash so that
//     sketches from different processes merge.
//
// Snapshots (AppendAccumulator, ReadAccumulator) are a compact binary form that starts with a
// version, the function and its input type, so that restoring a checkpoint into a changed job
// fails with ErrIncompatible instead of misreading the state; damaged input fails with ErrCorrupt.
package agg

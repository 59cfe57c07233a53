package store

import "context"

// Replacer is implemented by engines that can replace the whole content of
// some tables in one atomic step, so that a restore leaves either the state
// before it or exactly the backup. The embedded engine can (one
// transaction); Table Storage cannot (a transaction spans one partition of
// one table), so callers type-assert and fall back to deletes and upserts in
// batches (see store/dump for how such a restore is made finishable).
type Replacer interface {
	// ReplaceTables deletes every row of tables and writes the rows that
	// rows hands to put, all in one atomic and durable step; tables not
	// listed are left alone. Every row must belong to one of tables and be
	// valid (keys, Data size): otherwise, or when rows or put returns an
	// error, nothing is written and the error is returned (wrapping
	// ErrInvalid for an invalid row). A row put twice keeps the last Data.
	// ETags and Timestamps of the written rows are new, as for any write.
	ReplaceTables(ctx context.Context, tables []string, rows func(put func(table string, e Entity) error) error) error
}

// Package dump exports the tables of a store.Store to JSON lines and imports
// them back, into the same or another engine: a backup, a move from the
// embedded engine to Table Storage (or back), and a way to compare two
// stores byte for byte.
//
// One line per row, in the order of the table list (sorted, duplicates
// dropped) and then in Scan order (PartitionKey, RowKey):
//
//	{"table":"users","pk":"u","rk":"2819c223","data":"eyJ1c2VyTmFtZSI6..."}
//
// data is standard base64. The same content always gives the same bytes.
// ETags and timestamps are not exported: an import cannot restore them (the
// engine sets them on every write), so two stores with the same rows export
// the same bytes.
//
// A forced import is a restore: afterwards the store holds exactly the
// dump, atomically on the embedded engine, and on Table Storage behind a
// marker row that makes an interrupted restore visible (CheckRestore) and
// finishable (run the same forced import again).
package dump

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Record is one line of a dump.
type Record struct {
	Table string `json:"table"`
	PK    string `json:"pk"`
	RK    string `json:"rk"`
	Data  []byte `json:"data"` // base64 in JSON
}

// ErrNotEmpty is matched (errors.Is) by the error Import returns when a
// table of the dump already holds rows and Options.Force is not set.
var ErrNotEmpty = errors.New("dump: target table is not empty")

// NotEmptyError names the table that made Import refuse; it matches
// ErrNotEmpty.
type NotEmptyError struct{ Table string }

func (e *NotEmptyError) Error() string { return "dump: table " + e.Table + " already holds rows" }

// Is makes errors.Is(err, ErrNotEmpty) hold.
func (e *NotEmptyError) Is(target error) bool { return target == ErrNotEmpty }

// maxBatchData bounds the Data of one import batch, well inside Table
// Storage's 4 MiB request body once base64 and headers are added.
const maxBatchData = 2 << 20

// maxLine bounds one line: a row's base64 data plus its keys.
const maxLine = store.MaxDataSize*4/3 + 4*store.MaxKeyLen + 1024

// Export writes every row of tables to w as JSON lines.
func Export(ctx context.Context, s store.Store, tables []string, w io.Writer) error {
	names := slices.Clone(tables)
	slices.Sort(names)
	names = slices.Compact(names)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, t := range names {
		err := s.Scan(ctx, t, func(e store.Entity) error {
			if e.Data == nil {
				e.Data = []byte{} // "" rather than null: same bytes from every engine
			}
			return enc.Encode(Record{Table: t, PK: e.PartitionKey, RK: e.RowKey, Data: e.Data})
		})
		if err != nil {
			return fmt.Errorf("dump: export %s: %w", t, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dump: export: %w", err)
	}
	return nil
}

// Options tune Import.
type Options struct {
	// Force replaces: afterwards every table the dump names, and every
	// table of Tables, holds exactly the dump's rows; rows that are not in
	// the dump are deleted. Without it Import refuses (ErrNotEmpty) before
	// writing anything when one of the dump's tables already holds rows.
	Force bool
	// Tables are the tables a forced import replaces besides those the dump
	// names, so that a table of which the backup holds no rows is emptied
	// too: every table of the deployment.
	Tables []string
}

// Import reads a dump from r and writes its rows to s. It returns the number
// of rows written. The input is first spooled to a temporary file (and
// checked whole), so that nothing is written from a dump that cannot be
// read and the dump is not held in memory.
//
// Without Options.Force it inserts into empty tables, in batches of up to
// store.MaxBatchOps rows (and 2 MiB of Data) of one partition.
//
// With Options.Force it replaces. On an engine that implements
// store.Replacer (the embedded one) that is one atomic step: the store holds
// either its old state or the dump. On Table Storage, which has no
// transaction across partitions, it first writes a restore marker (the
// dump's SHA-256), then deletes the rows that are not in the dump, upserts
// the dump's rows and deletes the marker last. If it is interrupted the
// marker stays: CheckRestore reports it (commands refuse to work on a half
// restored store), and running the same forced import again, which is
// idempotent, finishes it.
func Import(ctx context.Context, s store.Store, r io.Reader, opts Options) (n int, err error) {
	spool, err := os.CreateTemp("", "adfscim-import-*.jsonl")
	if err != nil {
		return 0, fmt.Errorf("dump: import: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	sum := sha256.New()
	tables := map[string]bool{}
	var order []string
	rows := 0
	err = eachRecord(io.TeeReader(r, io.MultiWriter(spool, sum)), func(rec Record) error {
		if rec.Table == MarkerTable {
			return fmt.Errorf("dump: %w: table %q is reserved for the restore marker", store.ErrInvalid, MarkerTable)
		}
		rows++
		if !tables[rec.Table] {
			tables[rec.Table] = true
			order = append(order, rec.Table)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	rewind := func() error {
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("dump: import: %w", err)
		}
		return nil
	}
	if err := rewind(); err != nil {
		return 0, err
	}
	if !opts.Force {
		if err := CheckRestore(ctx, s); err != nil {
			return 0, err
		}
		for _, t := range order {
			if err := checkEmpty(ctx, s, t); err != nil {
				return 0, err
			}
		}
		return writeRows(ctx, s, spool, store.Insert)
	}

	replace := slices.Concat(order, opts.Tables)
	slices.Sort(replace)
	replace = slices.Compact(replace)
	if rp, ok := s.(store.Replacer); ok {
		err := rp.ReplaceTables(ctx, append(replace, MarkerTable), func(put func(string, store.Entity) error) error {
			return eachRecord(spool, func(rec Record) error {
				n++
				return put(rec.Table, store.Entity{PartitionKey: rec.PK, RowKey: rec.RK, Data: rec.Data})
			})
		})
		if err != nil {
			return 0, fmt.Errorf("dump: import: %w", err)
		}
		return n, nil
	}

	m := Marker{Digest: "sha256:" + hex.EncodeToString(sum.Sum(nil)), Rows: rows, Started: time.Now().UTC().Truncate(time.Second), Tables: replace}
	if err := writeMarker(ctx, s, m); err != nil {
		return 0, err
	}
	// From here on a failure leaves the marker: the store is part old, part
	// backup, and says so until a forced import runs to the end.
	interrupted := func(err error) error { return &PendingError{Marker: m, Err: err} }
	keep := map[string]map[string]struct{}{}
	err = eachRecord(spool, func(rec Record) error {
		if keep[rec.Table] == nil {
			keep[rec.Table] = map[string]struct{}{}
		}
		keep[rec.Table][rec.PK+"\x00"+rec.RK] = struct{}{}
		return nil
	})
	if err != nil {
		return 0, interrupted(err)
	}
	for _, t := range replace {
		if err := deleteOthers(ctx, s, t, keep[t]); err != nil {
			return 0, interrupted(err)
		}
	}
	if err := rewind(); err != nil {
		return 0, interrupted(err)
	}
	if n, err = writeRows(ctx, s, spool, store.Upsert); err != nil {
		return n, interrupted(err)
	}
	if err := deleteRows(ctx, s, MarkerTable, []store.Entity{{PartitionKey: markerPK, RowKey: markerRK}}); err != nil {
		return n, interrupted(fmt.Errorf("remove the restore marker: %w", err))
	}
	return n, nil
}

// writeRows writes the dump read from r with ops of kind, in batches of up
// to store.MaxBatchOps rows (and maxBatchData of Data) of one partition.
func writeRows(ctx context.Context, s store.Store, r io.Reader, kind store.OpKind) (n int, err error) {
	var (
		table string
		ops   []store.Op
		bytes int
		rows  = map[string]bool{}
	)
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := s.Batch(ctx, table, ops); err != nil {
			return fmt.Errorf("dump: import %s/%s: %w", table, ops[0].Entity.PartitionKey, err)
		}
		n += len(ops)
		ops, bytes = ops[:0], 0
		clear(rows)
		return nil
	}
	err = eachRecord(r, func(rec Record) error {
		full := len(ops) == store.MaxBatchOps || bytes+len(rec.Data) > maxBatchData
		if len(ops) > 0 && (full || rec.Table != table || rec.PK != ops[0].Entity.PartitionKey || rows[rec.RK]) {
			if err := flush(); err != nil {
				return err
			}
		}
		table = rec.Table
		rows[rec.RK] = true
		bytes += len(rec.Data)
		ops = append(ops, store.Op{Kind: kind, Entity: store.Entity{PartitionKey: rec.PK, RowKey: rec.RK, Data: rec.Data}})
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// deleteOthers deletes the rows of table whose keys (PartitionKey, 0x00,
// RowKey) are not in keep.
func deleteOthers(ctx context.Context, s store.Store, table string, keep map[string]struct{}) error {
	var stale []store.Entity
	err := s.Scan(ctx, table, func(e store.Entity) error {
		if _, ok := keep[e.PartitionKey+"\x00"+e.RowKey]; !ok {
			stale = append(stale, store.Entity{PartitionKey: e.PartitionKey, RowKey: e.RowKey})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dump: scan %s: %w", table, err)
	}
	return deleteRows(ctx, s, table, stale)
}

// deleteRows deletes rows (in Scan order) in batches of one partition. A
// row that is already gone is not an error: a re-run must not trip over
// what an interrupted run deleted, nor over a concurrent delete.
func deleteRows(ctx context.Context, s store.Store, table string, rows []store.Entity) error {
	for len(rows) > 0 {
		end := 1
		for end < len(rows) && end < store.MaxBatchOps && rows[end].PartitionKey == rows[0].PartitionKey {
			end++
		}
		ops := make([]store.Op, end)
		for i, e := range rows[:end] {
			ops[i] = store.Op{Kind: store.Delete, Entity: e}
		}
		_, err := s.Batch(ctx, table, ops)
		if store.IsNotFound(err) {
			for _, op := range ops {
				if _, err := s.Batch(ctx, table, []store.Op{op}); err != nil && !store.IsNotFound(err) {
					return fmt.Errorf("dump: delete %s/%s/%s: %w", table, op.Entity.PartitionKey, op.Entity.RowKey, err)
				}
			}
		} else if err != nil {
			return fmt.Errorf("dump: delete in %s/%s: %w", table, rows[0].PartitionKey, err)
		}
		rows = rows[end:]
	}
	return nil
}

// eachRecord decodes r line by line.
func eachRecord(r io.Reader, fn func(Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("dump: line %d: %w", line, err)
		}
		if rec.Table == "" || !store.ValidKey(rec.PK) || !store.ValidKey(rec.RK) {
			return fmt.Errorf("dump: line %d: %w: missing table or invalid key", line, store.ErrInvalid)
		}
		if rec.Data == nil {
			rec.Data = []byte{}
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dump: line %d: %w", line+1, err)
	}
	return nil
}

var errStop = errors.New("stop")

func checkEmpty(ctx context.Context, s store.Store, table string) error {
	err := s.Scan(ctx, table, func(store.Entity) error { return errStop })
	switch {
	case errors.Is(err, errStop):
		return &NotEmptyError{Table: table}
	case err != nil:
		return fmt.Errorf("dump: check %s: %w", table, err)
	}
	return nil
}

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
package dump

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/adfscim/adfscim/internal/store"
)

// Record is one line of a dump.
type Record struct {
	Table string `json:"table"`
	PK    string `json:"pk"`
	RK    string `json:"rk"`
	Data  []byte `json:"data"` // base64 in JSON
}

// ErrNotEmpty is returned by Import when a table of the dump already holds
// rows and Options.Force is not set.
var ErrNotEmpty = errors.New("dump: target table is not empty")

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
	// Force imports into tables that already hold rows, overwriting rows
	// with the same keys (Upsert) and keeping the others. Without it Import
	// refuses (ErrNotEmpty) before writing anything, and inserts.
	Force bool
}

// Import reads a dump from r and writes its rows to s in batches of up to
// store.MaxBatchOps rows (and 2 MiB of Data) of one partition. It returns
// the number of rows written. The input is first spooled to a temporary
// file, so that every target table is checked for emptiness before the
// first write without holding the dump in memory.
func Import(ctx context.Context, s store.Store, r io.Reader, opts Options) (n int, err error) {
	spool, err := os.CreateTemp("", "adfscim-import-*.jsonl")
	if err != nil {
		return 0, fmt.Errorf("dump: import: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	tables := map[string]bool{}
	var order []string
	err = eachRecord(io.TeeReader(r, spool), func(rec Record) error {
		if !tables[rec.Table] {
			tables[rec.Table] = true
			order = append(order, rec.Table)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if !opts.Force {
		for _, t := range order {
			if err := checkEmpty(ctx, s, t); err != nil {
				return 0, err
			}
		}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("dump: import: %w", err)
	}
	kind := store.Insert
	if opts.Force {
		kind = store.Upsert
	}
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
	err = eachRecord(spool, func(rec Record) error {
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
		return fmt.Errorf("%w: %s (use Force to import anyway)", ErrNotEmpty, table)
	case err != nil:
		return fmt.Errorf("dump: check %s: %w", table, err)
	}
	return nil
}

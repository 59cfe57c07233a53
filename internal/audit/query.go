package audit

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// MaxExamined bounds the rows one Query call reads, so that a filter
	// matching little of a long trail still answers promptly: the page then
	// comes back short, with a Next cursor to continue from.
	MaxExamined = 20000
)

// ErrInvalidCursor means a Filter.Cursor was not produced by Query; the HTTP
// layer answers 400 (scimType invalidCursor).
var ErrInvalidCursor = errors.New("audit: invalid cursor")

// ErrInvalidFormat means Export was asked for a format it does not write.
var ErrInvalidFormat = errors.New("audit: unknown export format")

// Filter selects records for Query. Zero fields do not filter.
type Filter struct {
	// From and To bound Record.Time: From <= Time < To.
	From, To time.Time
	// Actor matches Record.Actor exactly.
	Actor string
	// Target matches Target.ID, "Type/ID" or Target.Display (the display
	// name case-insensitively).
	Target string
	// Action matches Record.Action exactly, or a family when it ends in
	// "." ("user." matches user.create, user.patch...).
	Action string
	// Cursor continues from the previous Page.Next.
	Cursor string
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit int
}

// Page is one page of Query results, oldest first.
type Page struct {
	Records []Record
	// Next is the cursor of the following page; empty at the end. Cursors
	// stay valid as the trail grows (it is append-only), so paging is
	// stable. A full page always carries Next, which may lead to an empty
	// page; so does a short page when MaxExamined rows were read.
	Next string
}

func (f Filter) match(r Record) bool {
	if !f.From.IsZero() && r.Time.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !r.Time.Before(f.To) {
		return false
	}
	if f.Actor != "" && r.Actor != f.Actor {
		return false
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			if !strings.HasPrefix(r.Action, f.Action) {
				return false
			}
		} else if r.Action != f.Action {
			return false
		}
	}
	if f.Target != "" && f.Target != r.Target.ID && f.Target != r.Target.Type+"/"+r.Target.ID && !strings.EqualFold(f.Target, r.Target.Display) {
		return false
	}
	return true
}

func encodeCursor(day, rk string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a1:" + day + ":" + rk))
}

func decodeCursor(c string) (day, rk string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", ErrInvalidCursor
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "a1" || !isDay(parts[1]) {
		return "", "", ErrInvalidCursor
	}
	if _, ok := parseRowKey(parts[2]); !ok {
		return "", "", ErrInvalidCursor
	}
	return parts[1], parts[2], nil
}

// Query returns the records matching f, oldest first, one page at a time.
// It reads the day partitions that can hold records of the time range (one
// day of slack either side, as a record's day is that of its append).
func (l *Log) Query(ctx context.Context, f Filter) (Page, error) {
	return query(ctx, l.s, l.opt.Now(), f, MaxExamined)
}

// query reads at most about budget rows (MaxExamined in production).
func query(ctx context.Context, s store.Store, now time.Time, f Filter, budget int) (Page, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	f.Limit = min(f.Limit, MaxLimit)
	m, err := getMeta(ctx, s)
	if store.IsNotFound(err) {
		return Page{}, nil // nothing recorded yet
	}
	if err != nil {
		return Page{}, err
	}
	first, last := m.First, max(m.Latest, dayOf(now))
	if !f.From.IsZero() {
		first = max(first, dayOf(f.From.AddDate(0, 0, -1)))
	}
	if !f.To.IsZero() {
		last = min(last, dayOf(f.To.AddDate(0, 0, 1)))
	}
	after := ""
	if f.Cursor != "" {
		cd, crk, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		if cd > first {
			first = cd
		}
		if cd == first {
			after = crk
		}
	}
	var page Page
	const chunk = 500
	examined := 0
	for day := first; day <= last; day, after = nextDay(day), "" {
		for {
			if examined >= budget {
				page.Next = encodeCursor(day, cmp.Or(after, rowKey(0)))
				return page, nil
			}
			rows, err := s.List(ctx, Table, store.Query{PartitionKey: day, Prefix: recPrefix, After: after, Limit: chunk})
			if err != nil {
				return Page{}, fmt.Errorf("audit: query %s: %w", day, err)
			}
			examined += max(1, len(rows))
			for _, e := range rows {
				after = e.RowKey
				var d rowData
				if err := json.Unmarshal(e.Data, &d); err != nil {
					return Page{}, fmt.Errorf("%w: row %s/%s is unreadable", ErrCorrupt, day, e.RowKey)
				}
				r, err := decodeRecord(day, d)
				if err != nil {
					return Page{}, fmt.Errorf("%w: record %s/%s is unreadable", ErrCorrupt, day, e.RowKey)
				}
				if !f.match(r) {
					continue
				}
				page.Records = append(page.Records, r)
				if len(page.Records) == f.Limit {
					page.Next = encodeCursor(day, e.RowKey)
					return page, nil
				}
			}
			if len(rows) < chunk {
				break
			}
		}
	}
	return page, nil
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// Entry is one record with its place in the chain: a line of the JSON Lines
// export and an element of QueryPage.
type Entry struct {
	Seq      uint64 `json:"seq"`
	Day      string `json:"day"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
	Record
}

// Export writes every record with Time at or after since (all when zero) to
// w, oldest first, as JSON Lines or CSV. CSV cells that a spreadsheet would
// run as a formula (starting with = + - @) are prefixed with a quote.
func Export(ctx context.Context, s store.Store, since time.Time, format string, w io.Writer) error {
	var put func(Record) error
	flush := func() error { return nil }
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		put = func(r Record) error {
			return enc.Encode(Entry{Seq: r.Seq, Day: r.Day, PrevHash: r.PrevHash, Hash: r.Hash, Record: r})
		}
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"time", "day", "seq", "actor", "action", "target_type", "target_id", "target_display",
			"success", "status", "detail", "request_id", "source", "changes", "prev_hash", "hash"}); err != nil {
			return err
		}
		put = func(r Record) error {
			changes := ""
			if len(r.Changes) > 0 {
				b, err := json.Marshal(r.Changes)
				if err != nil {
					return err
				}
				changes = string(b)
			}
			row := []string{r.Time.Format(time.RFC3339Nano), r.Day, strconv.FormatUint(r.Seq, 10), r.Actor, r.Action,
				r.Target.Type, r.Target.ID, r.Target.Display, strconv.FormatBool(r.Outcome.Success),
				strconv.Itoa(r.Outcome.Status), r.Outcome.Detail, r.RequestID, r.Source, changes, r.PrevHash, r.Hash}
			for i, c := range row {
				row[i] = csvSafe(c)
			}
			return cw.Write(row)
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		return fmt.Errorf("%w %q (want %s or %s)", ErrInvalidFormat, format, FormatJSONL, FormatCSV)
	}
	f := Filter{From: since, Limit: MaxLimit}
	for {
		p, err := query(ctx, s, time.Now(), f, MaxExamined)
		if err != nil {
			return err
		}
		for _, r := range p.Records {
			if err := put(r); err != nil {
				return fmt.Errorf("audit: export: %w", err)
			}
		}
		if p.Next == "" {
			return flush()
		}
		f.Cursor = p.Next
	}
}

// Export writes the trail of l's store; see the package function Export.
func (l *Log) Export(ctx context.Context, since time.Time, format string, w io.Writer) error {
	return Export(ctx, l.s, since, format, w)
}

// csvSafe defuses spreadsheet formula injection in a CSV cell.
func csvSafe(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}

// Querier reads the trail; *Log implements it.
type Querier interface {
	Query(ctx context.Context, f Filter) (Page, error)
}

// QueryPage is the JSON body of GET /ops/v1/audit.
type QueryPage struct {
	Records []Entry `json:"records"`
	// Next is the cursor for the following page, absent at the end.
	Next string `json:"next,omitempty"`
}

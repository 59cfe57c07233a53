package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Table is the store table that holds the trail.
const Table = "audit"

// Layout of the table. Day partitions are named YYYYMMDD (UTC); in each, the
// head row sorts before the record rows. The meta partition holds one row
// with the first kept and the latest day, so readers need not scan the table
// to find them.
const (
	dayLayout = "20060102"
	headRK    = "head"
	recPrefix = "r"
	metaPK    = "meta"
	metaRK    = "state"
)

// zeroHash is the previous hash of the very first record of a trail.
var zeroHash = strings.Repeat("0", 64)

// ErrCorrupt means the trail's structure is damaged in a way that stops
// appends (for instance the current day's head row is gone). Run Verify.
var ErrCorrupt = errors.New("audit: trail structure damaged")

// rowKey is the RowKey of the record with sequence number seq: fixed width,
// so that RowKey order is sequence order.
func rowKey(seq uint64) string { return fmt.Sprintf("%s%020d", recPrefix, seq) }

// parseRowKey is the inverse of rowKey; ok is false for any other shape.
func parseRowKey(rk string) (uint64, bool) {
	if len(rk) != 21 || !strings.HasPrefix(rk, recPrefix) {
		return 0, false
	}
	n, err := strconv.ParseUint(rk[1:], 10, 64)
	return n, err == nil
}

// dayOf is the partition of instant t.
func dayOf(t time.Time) string { return t.UTC().Format(dayLayout) }

// isDay reports whether pk names a day partition.
func isDay(pk string) bool {
	if len(pk) != 8 {
		return false
	}
	_, err := time.Parse(dayLayout, pk)
	return err == nil
}

// nextDay returns the day after d (d must be a valid day).
func nextDay(d string) string {
	t, _ := time.Parse(dayLayout, d)
	return t.AddDate(0, 0, 1).Format(dayLayout)
}

// chainHash is the hash of a record: SHA-256 over a canonical encoding of its
// sequence number, its predecessor's hash and its JSON body, hex-encoded.
// The body is the exact bytes stored; Append produces them with
// encoding/json from a Record (fixed field order, sorted map keys), so the
// encoding is canonical by construction and Verify hashes what is stored.
func chainHash(seq uint64, prev string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "adfscim.audit.v1\n%d\n%s\n%d\n", seq, prev, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// rowData is the stored form of one record row.
type rowData struct {
	Seq  uint64          `json:"seq"`
	Prev string          `json:"prev"`
	Hash string          `json:"hash"`
	Rec  json.RawMessage `json:"rec"`
}

// headData is the stored form of a day's head row. Seq and Hash are those of
// the day's last record (the genesis values while the day has none).
type headData struct {
	Day  string `json:"day"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// PrevDay, GenesisSeq and GenesisHash are the previous day and its last
	// record: the first record of this day chains to them.
	PrevDay     string `json:"prevDay,omitempty"`
	GenesisSeq  uint64 `json:"genesisSeq"`
	GenesisHash string `json:"genesisHash"`
	// Sealed is set when a later day was started; Next names it. A sealed
	// head takes no more records.
	Sealed bool   `json:"sealed,omitempty"`
	Next   string `json:"next,omitempty"`
}

// metaData is the stored form of the meta row.
type metaData struct {
	// First is the oldest kept day: the start of the trail, moved forward by
	// Expire.
	First string `json:"first"`
	// Latest is the newest day started. It is a hint that may lag by one
	// day after a crash; the sealed heads are the truth.
	Latest string `json:"latest"`
}

func getHead(ctx context.Context, s store.Store, day string) (headData, string, error) {
	e, err := s.Get(ctx, Table, day, headRK)
	if err != nil {
		return headData{}, "", fmt.Errorf("audit: read head of %s: %w", day, err)
	}
	var h headData
	if err := json.Unmarshal(e.Data, &h); err != nil {
		return headData{}, "", fmt.Errorf("%w: head of %s: %v", ErrCorrupt, day, err)
	}
	return h, e.ETag, nil
}

func getMeta(ctx context.Context, s store.Store) (metaData, error) {
	e, err := s.Get(ctx, Table, metaPK, metaRK)
	if err != nil {
		return metaData{}, fmt.Errorf("audit: read trail state: %w", err)
	}
	var m metaData
	if err := json.Unmarshal(e.Data, &m); err != nil || !isDay(m.First) || !isDay(m.Latest) {
		return metaData{}, fmt.Errorf("%w: trail state row is unreadable", ErrCorrupt)
	}
	return m, nil
}

// decodeRecord turns a stored row into a Record with its chain fields set.
func decodeRecord(day string, d rowData) (Record, error) {
	var r Record
	if err := json.Unmarshal(d.Rec, &r); err != nil {
		return Record{}, err
	}
	r.Seq, r.Day, r.PrevHash, r.Hash = d.Seq, day, d.Prev, d.Hash
	return r, nil
}

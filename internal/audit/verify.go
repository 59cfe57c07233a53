package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// BreakKind says how the chain is broken.
type BreakKind string

// The kinds of break Verify names.
const (
	// Modified: a record's content no longer matches its hash, or a record
	// was rewritten (hash recomputed) so that its successor no longer links
	// to it.
	Modified BreakKind = "modified"
	// Deleted: a sequence number (or a whole day) is missing.
	Deleted BreakKind = "deleted"
	// Inserted: a row that the chain does not account for.
	Inserted BreakKind = "inserted"
	// Reordered: a row holds another position's record.
	Reordered BreakKind = "reordered"
	// HeadMismatch: a day's head row disagrees with its records or with
	// the previous day.
	HeadMismatch BreakKind = "head mismatch"
)

// Break names the first place where the chain does not hold.
type Break struct {
	Day    string    `json:"day"`
	Seq    uint64    `json:"seq"`
	Kind   BreakKind `json:"kind"`
	Detail string    `json:"detail"`
}

func (b Break) String() string {
	return fmt.Sprintf("%s at day %s seq %d: %s", b.Kind, b.Day, b.Seq, b.Detail)
}

// Result is the outcome of Verify.
type Result struct {
	// OK is true when no break was found.
	OK bool `json:"ok"`
	// Break is the first break, nil when OK.
	Break *Break `json:"break,omitempty"`
	// FirstDay and LastDay are the days walked; Days counts them.
	FirstDay string `json:"firstDay,omitempty"`
	LastDay  string `json:"lastDay,omitempty"`
	Days     int    `json:"days"`
	// Records counts the records whose hash and link were checked.
	Records int `json:"records"`
	// FirstSeq and LastSeq bound the records checked; LastHash is the hash
	// of the last one. An auditor who notes (LastSeq, LastHash) can later
	// check that the trail still contains it, which also guards the end of
	// the trail against truncation.
	FirstSeq uint64 `json:"firstSeq,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	LastHash string `json:"lastHash,omitempty"`
	// Trust says what the first day's genesis hash rests on: the start of
	// the trail, an audit.expire record, or the requested range.
	Trust string `json:"trust,omitempty"`
}

// errStop ends a Scan once the first break is found.
var errStop = errors.New("stop")

// Verify walks the trail of s, day by day in order, recomputing every hash
// and link, and reports the first break. from and to (zero for unbounded)
// limit the days walked; the first day walked is then trusted as a starting
// point. Without from, the walk starts at the oldest kept day, and a trail
// that does not start at the very first record must be explained by an
// audit.expire record. The error is non-nil only when the store cannot be
// read; a broken trail is reported in Result.
func Verify(ctx context.Context, s store.Store, from, to time.Time) (Result, error) {
	return verify(ctx, s, from, to, nil)
}

// Anchor is a record an auditor noted from an earlier Verify (its LastSeq
// and LastHash): the trail must still hold it unchanged. It guards the end
// of the trail, which a hash chain alone cannot (a rewritten tail with
// recomputed hashes is self-consistent).
type Anchor struct {
	Seq  uint64
	Hash string
}

// ParseAnchor reads an anchor written as "seq:hash".
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(hash) != 64 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want seq:sha256-hex", s)
	}
	return Anchor{Seq: n, Hash: strings.ToLower(hash)}, nil
}

// VerifyAnchored is Verify that also checks that every anchor is still in
// the walked trail with the same hash. An anchor beyond the end of the trail
// is a Deleted break (the tail was cut); one with another hash is Modified.
// Anchors before the first day walked are not checked.
func VerifyAnchored(ctx context.Context, s store.Store, from, to time.Time, anchors ...Anchor) (Result, error) {
	return verify(ctx, s, from, to, anchors)
}

func verify(ctx context.Context, s store.Store, from, to time.Time, anchors []Anchor) (Result, error) {
	v := verifier{anchors: map[uint64]string{}}
	for _, a := range anchors {
		v.anchors[a.Seq] = a.Hash
	}
	m, err := getMeta(ctx, s)
	switch {
	case store.IsNotFound(err):
	case err != nil:
		return Result{}, err
	default:
		v.meta = &m
	}
	if !from.IsZero() {
		v.from = dayOf(from)
	}
	if v.meta != nil && v.meta.First > v.from {
		v.lower = v.meta.First
	} else {
		v.lower = v.from
	}
	if !to.IsZero() {
		v.to = dayOf(to)
	}
	err = s.Scan(ctx, Table, v.row)
	if err != nil && !errors.Is(err, errStop) {
		return Result{}, fmt.Errorf("audit: verify: %w", err)
	}
	if v.res.Break == nil && v.cur != nil {
		v.finishDay()
	}
	if v.res.Break == nil && v.meta != nil && (v.to == "" || v.to >= v.meta.Latest) && v.res.LastDay < v.meta.Latest {
		v.brk(v.meta.Latest, 0, Deleted, "the trail's latest day is missing")
	}
	// An expiry record lies after the days it removed: the checks that
	// need one are only made when the walk reached the end of the trail.
	reachedEnd := v.to == "" || v.meta == nil || v.to >= v.meta.Latest
	if v.res.Break == nil && reachedEnd && v.skipped != "" && v.expiredTo <= v.skipped {
		v.brk(v.skipped, 0, HeadMismatch, fmt.Sprintf("the trail's recorded start is %s, but day %s exists and no audit.expire record removed it", v.lower, v.skipped))
	}
	if v.res.Break == nil && v.justify != nil && !v.justified && !reachedEnd {
		v.res.Trust = fmt.Sprintf("genesis of %s taken as given (the walk stopped at %s, before any expiry record)", v.justify.Day, v.to)
	}
	if v.res.Break == nil && v.justify != nil && !v.justified && reachedEnd {
		v.brk(v.justify.PrevDay, v.justify.GenesisSeq, Deleted,
			fmt.Sprintf("records up to %d (day %s and before) are missing and no audit.expire record accounts for them", v.justify.GenesisSeq, v.justify.PrevDay))
	}
	if v.res.Break == nil {
		for _, a := range anchors {
			if a.Seq > v.res.LastSeq && reachedEnd {
				v.brk(v.res.LastDay, v.res.LastSeq+1, Deleted, fmt.Sprintf("the trail ends at %d, before the anchored record %d", v.res.LastSeq, a.Seq))
				break
			}
		}
	}
	v.res.OK = v.res.Break == nil
	return v.res, nil
}

type verifier struct {
	meta            *metaData
	from, to, lower string

	res  Result
	prev *headData // head of the last finished day
	cur  *dayState

	justify   *headData // first day's head when its genesis needs an expiry record
	justified bool
	// skipped is the newest day found before the trail's recorded start;
	// an audit.expire record must account for it.
	skipped   string
	expiredTo string // the latest first-kept day named by an audit.expire record

	anchors    map[uint64]string // seq -> hash the record must still have
	lastAnchor uint64            // the last anchored record found unchanged
}

type dayState struct {
	head       headData
	expectSeq  uint64
	expectPrev string
	prevRow    *rowData // last record row seen this day
}

func (v *verifier) brk(day string, seq uint64, kind BreakKind, detail string) {
	if v.res.Break == nil {
		v.res.Break = &Break{Day: day, Seq: seq, Kind: kind, Detail: detail}
	}
}

func (v *verifier) row(e store.Entity) error {
	pk := e.PartitionKey
	if !isDay(pk) || (v.to != "" && pk > v.to) {
		return nil
	}
	if pk < v.lower {
		if pk >= v.from && pk > v.skipped {
			v.skipped = pk // before the trail's start: must have been expired
		}
		return nil
	}
	if v.cur == nil || v.cur.head.Day != pk {
		if v.cur != nil {
			v.finishDay()
		}
		v.cur = nil
		if v.res.Break != nil {
			return errStop
		}
		if e.RowKey != headRK {
			if e.RowKey < headRK {
				v.brk(pk, 0, Inserted, fmt.Sprintf("unexpected row %q before the day's head", e.RowKey))
			} else {
				v.brk(pk, 0, HeadMismatch, "the day has no head row")
			}
			return errStop
		}
		v.startDay(pk, e)
	} else {
		v.record(pk, e)
	}
	if v.res.Break != nil {
		return errStop
	}
	return nil
}

func (v *verifier) startDay(day string, e store.Entity) {
	var h headData
	if err := json.Unmarshal(e.Data, &h); err != nil || h.Day != day {
		v.brk(day, 0, HeadMismatch, "the day's head row is unreadable or names another day")
		return
	}
	if p := v.prev; p != nil {
		switch {
		case h.PrevDay > p.Day:
			v.brk(h.PrevDay, h.GenesisSeq, Deleted, fmt.Sprintf("day %s, which %s follows, is missing", h.PrevDay, day))
			return
		case h.PrevDay != p.Day:
			v.brk(day, h.GenesisSeq, HeadMismatch, fmt.Sprintf("head says the previous day is %q, the trail has %s", h.PrevDay, p.Day))
			return
		case h.GenesisSeq != p.Seq || h.GenesisHash != p.Hash:
			v.brk(day, h.GenesisSeq, HeadMismatch, fmt.Sprintf("genesis (%d, %.12s…) does not match the end of %s (%d, %.12s…)", h.GenesisSeq, h.GenesisHash, p.Day, p.Seq, p.Hash))
			return
		case !p.Sealed || p.Next != day:
			v.brk(p.Day, p.Seq, HeadMismatch, fmt.Sprintf("day %s is not sealed towards %s", p.Day, day))
			return
		}
	} else {
		v.res.FirstDay = day
		switch {
		case v.from != "" && day >= v.from && v.from > v.lowerFromMeta():
			v.res.Trust = fmt.Sprintf("genesis of %s taken as given (range requested from %s)", day, v.from)
		case h.GenesisSeq == 0 && h.GenesisHash == zeroHash:
			v.res.Trust = "start of the trail"
		default:
			hh := h
			v.justify = &hh
		}
	}
	v.res.Days++
	v.res.LastDay = day
	v.cur = &dayState{head: h, expectSeq: h.GenesisSeq + 1, expectPrev: h.GenesisHash}
}

func (v *verifier) lowerFromMeta() string {
	if v.meta == nil {
		return ""
	}
	return v.meta.First
}

func (v *verifier) record(day string, e store.Entity) {
	c := v.cur
	rs, ok := parseRowKey(e.RowKey)
	if !ok {
		v.brk(day, c.expectSeq, Inserted, fmt.Sprintf("unexpected row %q", e.RowKey))
		return
	}
	if rs > c.head.Seq {
		v.brk(day, rs, Inserted, fmt.Sprintf("record %d is beyond the day's head (last %d)", rs, c.head.Seq))
		return
	}
	var d rowData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		v.brk(day, rs, Modified, "the row is unreadable")
		return
	}
	if chainHash(d.Seq, d.Prev, d.Rec) != d.Hash {
		v.brk(day, rs, Modified, fmt.Sprintf("record %d does not match its hash", rs))
		return
	}
	rec, err := decodeRecord(day, d)
	if err != nil {
		v.brk(day, rs, Modified, fmt.Sprintf("record %d is unreadable", rs))
		return
	}
	if d.Seq != rs {
		if c.prevRow != nil && d.Seq == rs-1 && d.Prev == c.prevRow.Prev {
			v.brk(day, rs-1, Inserted, fmt.Sprintf("row %d holds a record that is not in the chain", rs-1))
		} else {
			v.brk(day, rs, Reordered, fmt.Sprintf("row %d holds record %d", rs, d.Seq))
		}
		return
	}
	if rs > c.expectSeq {
		v.brk(day, c.expectSeq, Deleted, fmt.Sprintf("records %d to %d are missing", c.expectSeq, rs-1))
		return
	}
	if rs < c.expectSeq {
		v.brk(day, rs, Inserted, fmt.Sprintf("record %d is before the day's genesis (%d)", rs, c.head.GenesisSeq))
		return
	}
	if d.Prev != c.expectPrev {
		switch {
		case c.prevRow != nil && d.Prev == c.prevRow.Prev:
			v.brk(day, rs-1, Inserted, fmt.Sprintf("record %d is not the one record %d links to", rs-1, rs))
		case c.prevRow == nil:
			v.brk(day, rs, HeadMismatch, fmt.Sprintf("record %d does not link to the day's genesis", rs))
		default:
			v.brk(day, rs-1, Modified, fmt.Sprintf("record %d was rewritten: record %d links to another hash", rs-1, rs))
		}
		return
	}
	if rec.Action == ActionAuditExpire && rec.Outcome.Success {
		v.expiredTo = max(v.expiredTo, rec.Target.ID)
		if v.justify != nil && !v.justified && v.justify.PrevDay < rec.Target.ID && rec.Target.ID <= v.justify.Day {
			v.justified = true
			v.res.Trust = fmt.Sprintf("genesis of %s: days before %s expired by record %d", v.justify.Day, rec.Target.ID, rs)
		}
	}
	if want, ok := v.anchors[rs]; ok {
		if want != d.Hash {
			from := "the first record walked"
			if v.lastAnchor > 0 {
				from = fmt.Sprintf("record %d", v.lastAnchor+1)
			}
			v.brk(day, rs, Modified, fmt.Sprintf("record %d no longer has the anchored hash %.12s…: the chain was rewritten between %s and record %d", rs, want, from, rs))
			return
		}
		v.lastAnchor = rs
	}
	if v.res.Records == 0 {
		v.res.FirstSeq = rs
	}
	v.res.Records++
	v.res.LastSeq, v.res.LastHash = rs, d.Hash
	c.expectSeq, c.expectPrev = rs+1, d.Hash
	c.prevRow = &d
}

// finishDay checks that the day's records end where its head says.
func (v *verifier) finishDay() {
	c := v.cur
	if v.res.Break != nil || c == nil {
		return
	}
	last := c.expectSeq - 1
	switch {
	case last < c.head.Seq:
		v.brk(c.head.Day, c.expectSeq, Deleted, fmt.Sprintf("records %d to %d are missing (the head says the day ends at %d)", c.expectSeq, c.head.Seq, c.head.Seq))
	case c.expectPrev != c.head.Hash:
		v.brk(c.head.Day, last, HeadMismatch, "the head's hash is not the day's last record's")
	}
	if v.res.LastSeq == 0 && v.res.Records == 0 {
		v.res.LastSeq, v.res.LastHash = c.head.Seq, c.head.Hash
	}
	h := c.head
	v.prev = &h
}

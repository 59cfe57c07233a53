package audit

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/adfscim/adfscim/internal/store"
)

// Prepared is one record made ready to be written in the same commit as the
// change it records (store.Follower): the change and its record then become
// durable together, with one fsync instead of two in a row. Only the chain
// fields are computed inside the commit; redaction and encoding happen in
// Prepare, outside the store's write lock.
type Prepared struct {
	l       *Log
	body    []byte
	written bool
}

// Prepare encodes rec (redacted, time set) for Writes. The caller passes
// p.Writes as (part of) the store.Follow of its batch and, once the batch
// committed, calls Append only if Written is false.
func (l *Log) Prepare(rec Record) (*Prepared, error) {
	b, err := l.encode(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotRecorded, rec.Action, err)
	}
	return &Prepared{l: l, body: b}, nil
}

// Writes returns the record row and the new head of the open day, chained
// onto the head as r sees it. When today's head is missing or sealed (the
// first record of a day, or a trail not started yet) it returns nothing, and
// the record is left to Append, which knows how to roll the day over.
func (p *Prepared) Writes(r store.Reader) ([]store.Write, error) {
	w, ok, err := p.l.chain(r, [][]byte{p.body})
	p.written = ok
	return w, err
}

// chain returns the writes that append bodies to today's head as r sees it,
// inside a commit: the record rows and the head replaced if-match. ok is
// false, with no writes, when today's head is missing or sealed.
func (l *Log) chain(r store.Reader, bodies [][]byte) (w []store.Write, ok bool, err error) {
	day := dayOf(l.opt.Now())
	e, err := r.Get(Table, day, headRK)
	if store.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var h headData
	if err := json.Unmarshal(e.Data, &h); err != nil {
		return nil, false, fmt.Errorf("%w: head of %s: %v", ErrCorrupt, day, err)
	}
	if h.Sealed {
		return nil, false, nil
	}
	ops, _, err := appendOps(h, e.ETag, bodies)
	if err != nil {
		return nil, false, err
	}
	return []store.Write{{Table: Table, Ops: ops}}, true, nil
}

// appendOps are the ops that append bodies to the day of head h (whose ETag
// is etag): the record rows, chained, and the head replaced if-match. next
// is the new head.
func appendOps(h headData, etag string, bodies [][]byte) (ops []store.Op, next headData, err error) {
	ops = make([]store.Op, 0, len(bodies)+1)
	seq, prev := h.Seq, h.Hash
	for _, b := range bodies {
		seq++
		hash := chainHash(seq, prev, b)
		ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: h.Day, RowKey: rowKey(seq), Data: encodeRow(seq, prev, hash, b)}})
		prev = hash
	}
	next = h
	next.Seq, next.Hash = seq, prev
	hd, err := json.Marshal(next)
	if err != nil {
		return nil, headData{}, err
	}
	return append(ops, store.Op{Kind: store.Replace, Entity: store.Entity{PartitionKey: h.Day, RowKey: headRK, Data: hd}, IfMatch: etag}), next, nil
}

// Written reports whether the last call of Writes put the record in its
// commit. It is meaningful once the batch has committed.
func (p *Prepared) Written() bool { return p.written }

// encodeRow is the stored form of a record row: rowData as encoding/json
// writes it, assembled directly because body is compact JSON already (it
// comes from json.Marshal) and re-validating it would only cost time.
func encodeRow(seq uint64, prev, hash string, body []byte) []byte {
	b := make([]byte, 0, len(body)+len(prev)+len(hash)+64)
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, prev...)
	b = append(b, `","hash":"`...)
	b = append(b, hash...)
	b = append(b, `","rec":`...)
	b = append(b, body...)
	return append(b, '}')
}

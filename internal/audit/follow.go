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
	p.written = false
	day := dayOf(p.l.opt.Now())
	e, err := r.Get(Table, day, headRK)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var h headData
	if err := json.Unmarshal(e.Data, &h); err != nil {
		return nil, fmt.Errorf("%w: head of %s: %v", ErrCorrupt, day, err)
	}
	if h.Sealed {
		return nil, nil
	}
	seq := h.Seq + 1
	hash := chainHash(seq, h.Hash, p.body)
	next := h
	next.Seq, next.Hash = seq, hash
	hd, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	p.written = true
	p.l.moved.Store(true)
	return []store.Write{{Table: Table, Ops: []store.Op{
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: day, RowKey: rowKey(seq), Data: encodeRow(seq, h.Hash, hash, p.body)}},
		{Kind: store.Replace, Entity: store.Entity{PartitionKey: day, RowKey: headRK, Data: hd}, IfMatch: e.ETag},
	}}}, nil
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

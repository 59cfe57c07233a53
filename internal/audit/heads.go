package audit

import (
	"context"
	"fmt"

	"github.com/adfscim/adfscim/internal/store"
)

// DayHead is where one day of the trail ends: the sequence number and hash
// of its last record (its genesis, the previous day's last record, while the
// day has none). Sealed days take no more records.
type DayHead struct {
	Day    string
	Seq    uint64
	Hash   string
	Sealed bool
}

// Heads returns the heads of the days from day from to the open day, in
// order, following sealed heads forward. When from is empty or no longer
// kept, it starts at the trail's first kept day. An empty trail has none.
// Signed checkpoints are made from these: they read head rows only, not
// the records.
func Heads(ctx context.Context, s store.Store, from string) ([]DayHead, error) {
	m, err := getMeta(ctx, s)
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if from == "" || from < m.First {
		from = m.First
	}
	h, _, err := getHead(ctx, s, from)
	if store.IsNotFound(err) && from != m.First {
		// The day was expired since it was noted: start at the first kept.
		h, _, err = getHead(ctx, s, m.First)
	}
	if store.IsNotFound(err) {
		return nil, nil // the first day is not started yet
	}
	if err != nil {
		return nil, err
	}
	var out []DayHead
	for {
		out = append(out, DayHead{Day: h.Day, Seq: h.Seq, Hash: h.Hash, Sealed: h.Sealed})
		if !h.Sealed {
			return out, nil
		}
		nh, _, err := getHead(ctx, s, h.Next)
		if store.IsNotFound(err) {
			return out, nil // sealed, its successor not started yet
		}
		if err != nil {
			return nil, fmt.Errorf("audit: heads: %w", err)
		}
		h = nh
	}
}

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/store"
)

// Writer makes checkpoints of the trail in a store and appends them to a
// sink. Several Writers (in one or many instances) may share a sink: each
// append is conditional on the position read, and a writer that lost the
// race reads the new tail and the heads again, so the chain never forks
// and no checkpoint states less than the one before it.
type Writer struct {
	Store  store.Store
	Sink   Sink
	Signer Signer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxAttempts bounds the retries after conflicts (default 10).
	MaxAttempts int
}

// Write appends one checkpoint and returns it.
func (w *Writer) Write(ctx context.Context) (Checkpoint, error) {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	attempts := w.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	for range attempts {
		c, err := w.writeOnce(ctx, now)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return c, err
	}
	return Checkpoint{}, fmt.Errorf("checkpoint: %w (%d attempts)", ErrConflict, attempts)
}

func (w *Writer) writeOnce(ctx context.Context, now func() time.Time) (Checkpoint, error) {
	last, pos, err := w.Sink.Last(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: read the last checkpoint: %w", err)
	}
	c := Checkpoint{Seq: 1, Prev: ZeroPrev}
	from := ""
	if last != nil {
		prev, _, _, err := Parse(last)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint: the last checkpoint is damaged (%v); run audit verify -checkpoints", err)
		}
		c.Seq, c.Prev = prev.Seq+1, LineHash(last)
		if n := len(prev.Days); n > 0 {
			from = prev.Days[n-1].Day
		}
	}
	// The heads are read after the tail: a checkpoint appended by another
	// writer before our Last read no newer heads than ours.
	c.Time = now().UTC()
	heads, err := audit.Heads(ctx, w.Store, from)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: read the trail's heads: %w", err)
	}
	c.Days = make([]Day, 0, len(heads))
	for _, h := range heads {
		c.Days = append(c.Days, Day{Day: h.Day, LastSeq: h.Seq, LastHash: h.Hash})
	}
	line, err := Sign(ctx, w.Signer, c)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := w.Sink.Append(ctx, line, pos, c.Time); err != nil {
		if errors.Is(err, ErrConflict) {
			return Checkpoint{}, err
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: append: %w", err)
	}
	c.V, c.KID = Version, w.Signer.KeyID()
	return c, nil
}

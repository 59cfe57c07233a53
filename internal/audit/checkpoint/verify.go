package checkpoint

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"sort"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/store"
)

// Problem is something wrong with the checkpoints themselves. Checkpoint
// is the sequence number of the checkpoint involved (0 when the line could
// not be read), Line its 1-based line in the listing.
type Problem struct {
	Checkpoint uint64 `json:"checkpoint"`
	Line       int    `json:"line"`
	Detail     string `json:"detail"`
}

func (p Problem) String() string {
	if p.Checkpoint == 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Detail)
	}
	return fmt.Sprintf("checkpoint %d: %s", p.Checkpoint, p.Detail)
}

// Chain is the outcome of checking the checkpoint lines alone: their
// signatures, their chain, and the records they vouch for.
type Chain struct {
	// Count is the number of lines; First and Last the sequence numbers
	// of the first and last checkpoint, LastTime the last one's time.
	Count       int       `json:"count"`
	First       uint64    `json:"first,omitempty"`
	Last        uint64    `json:"last,omitempty"`
	LastTime    time.Time `json:"lastTime,omitzero"`
	Problems    []Problem `json:"problems,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
	CoveredSeq  uint64    `json:"coveredSeq,omitempty"`
	CoveredHash string    `json:"coveredHash,omitempty"`
	// Anchors are the (seq, hash) pairs of every validly signed
	// checkpoint: the trail must still hold each of them.
	Anchors []audit.Anchor `json:"-"`
}

// CheckChain checks lines (oldest first) against the public keys: each
// must be signed by one of them, have the next sequence number and name
// the previous line's hash; times must not go back, and no day may end
// earlier, or on another hash, than an earlier checkpoint said. A first
// checkpoint other than 1 is a note, not a problem: checkpoints older than
// the container's retention may have been removed with the trail's
// expired days.
func CheckChain(lines [][]byte, keys []*ecdsa.PublicKey) Chain {
	ch := Chain{Count: len(lines)}
	type seen struct {
		hash string
		cp   uint64
	}
	bySeq := map[uint64]seen{} // record seq -> hash vouched for
	dayEnd := map[string]Day{} // day -> its latest end vouched for
	var prev *Checkpoint       // the last readable checkpoint
	prevLine := []byte(nil)
	for i, line := range lines {
		c, payload, sig, err := Parse(line)
		if err != nil {
			ch.Problems = append(ch.Problems, Problem{Line: i + 1, Detail: err.Error()})
			prev, prevLine = nil, nil
			continue
		}
		if ch.First == 0 {
			ch.First = c.Seq
			if c.Seq != 1 {
				ch.Notes = append(ch.Notes, fmt.Sprintf("the checkpoints start at %d: earlier ones are not kept", c.Seq))
			} else if c.Prev != ZeroPrev {
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: "the first checkpoint names a predecessor"})
			}
		}
		signed := VerifySignature(payload, sig, keys)
		if !signed {
			ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: fmt.Sprintf("the signature does not verify with the public key (kid %s)", c.KID)})
		}
		if prev != nil {
			switch {
			case c.Seq > prev.Seq+1:
				missing := fmt.Sprintf("checkpoint %d is missing", prev.Seq+1)
				if c.Seq > prev.Seq+2 {
					missing = fmt.Sprintf("checkpoints %d to %d are missing", prev.Seq+1, c.Seq-1)
				}
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: fmt.Sprintf("%s (checkpoint %d is followed by %d)", missing, prev.Seq, c.Seq)})
			case c.Seq != prev.Seq+1:
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: fmt.Sprintf("out of order: follows checkpoint %d", prev.Seq)})
			case c.Prev != LineHash(prevLine):
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: fmt.Sprintf("does not link to checkpoint %d (it names another predecessor)", prev.Seq)})
			}
			if c.Time.Before(prev.Time) {
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1, Detail: fmt.Sprintf("its time %s is before checkpoint %d's %s", c.Time.Format(time.RFC3339), prev.Seq, prev.Time.Format(time.RFC3339))})
			}
		}
		cc := c
		prev, prevLine = &cc, line
		ch.Last, ch.LastTime = c.Seq, c.Time
		if !signed {
			continue // an unsigned statement vouches for nothing
		}
		for _, d := range c.Days {
			if d.LastSeq == 0 {
				continue // an empty trail
			}
			if s, ok := bySeq[d.LastSeq]; ok && s.hash != d.LastHash {
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1,
					Detail: fmt.Sprintf("record %d has hash %.12s… here but %.12s… in checkpoint %d: the trail was rewritten between them", d.LastSeq, d.LastHash, s.hash, s.cp)})
				continue
			}
			if e, ok := dayEnd[d.Day]; ok && d.LastSeq < e.LastSeq {
				ch.Problems = append(ch.Problems, Problem{Checkpoint: c.Seq, Line: i + 1,
					Detail: fmt.Sprintf("day %s ends at record %d here, but an earlier checkpoint saw it reach %d", d.Day, d.LastSeq, e.LastSeq)})
			}
			bySeq[d.LastSeq] = seen{hash: d.LastHash, cp: c.Seq}
			if d.LastSeq > dayEnd[d.Day].LastSeq {
				dayEnd[d.Day] = d
			}
			if d.LastSeq > ch.CoveredSeq {
				ch.CoveredSeq, ch.CoveredHash = d.LastSeq, d.LastHash
			}
		}
	}
	seqs := make([]uint64, 0, len(bySeq))
	for s := range bySeq {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		ch.Anchors = append(ch.Anchors, audit.Anchor{Seq: s, Hash: bySeq[s].hash})
	}
	return ch
}

// Report is the outcome of Verify.
type Report struct {
	OK         bool         `json:"ok"`
	Checkpoint Chain        `json:"checkpoints"`
	Trail      audit.Result `json:"trail"`
}

// Verify checks the checkpoint lines with CheckChain, then the whole
// trail of s against every record they vouch for: a cut tail (records
// beyond the trail's end), a rewritten head or record (another hash at a
// vouched-for sequence number) and deleted records are reported by the
// trail's Break with the sequence numbers involved. The error is non-nil
// only when the store cannot be read.
func Verify(ctx context.Context, s store.Store, lines [][]byte, keys []*ecdsa.PublicKey) (Report, error) {
	ch := CheckChain(lines, keys)
	res, err := audit.VerifyAnchored(ctx, s, time.Time{}, time.Time{}, ch.Anchors...)
	if err != nil {
		return Report{}, err
	}
	return Report{OK: res.OK && len(ch.Problems) == 0, Checkpoint: ch, Trail: res}, nil
}

package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
)

// Backoff is how often, and how far apart, a failed write is tried again.
type Backoff struct {
	// Attempts is the number of tries of one write (default 4).
	Attempts int
	// Delay is the wait before the second try, doubled before every
	// further one (default 250ms).
	Delay time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Attempts <= 0 {
		b.Attempts = 4
	}
	if b.Delay <= 0 {
		b.Delay = 250 * time.Millisecond
	}
	return b
}

// roleAudit writes the audit records of the role assignments the reconciler
// created and deleted, and of the schedules it found expired. They follow the rule of SCIM writes: a change to
// access that is not in the trail is a failure, not a log line. A write the
// trail refuses is retried with backoff; records that still cannot be
// written are held, in order, and go first in the next write; and while any
// are held the full reconcile fails (the ReconcileRbac timer answers the
// Functions host non-2xx, so the run shows as failed in Application
// Insights; POST /ops/v1/reconcile and `adfscim reconcile` fail too).
//
// The trade: the records are held in memory, so a process that dies while
// the trail refuses writes loses them, though the reconciler's own state
// (the assignments in ARM, the settled queue) survives. Writing them
// durably, in the commit that settles the queue items, would need the
// reconciler's settle to carry them and works only where the store can
// commit to several tables at once (bbolt, not Table Storage); the held
// records and the failing run are what both engines can promise. A write
// whose outcome is unknown (a timeout) is tried again, so a record may be
// written twice, never not at all.
type roleAudit struct {
	trail   audit.Auditor
	log     zerolog.Logger
	backoff Backoff

	mu   sync.Mutex // serialises writes, so records keep their order
	held []audit.Record
}

func newRoleAudit(trail audit.Auditor, log zerolog.Logger, b Backoff) *roleAudit {
	return &roleAudit{trail: trail, log: log, backoff: b.withDefaults()}
}

// applied is the reconciler's OnApplied: one log line per change, then the
// records into the trail.
func (r *roleAudit) applied(ctx context.Context, rep rbac.Report) {
	for _, res := range rep.Results {
		ev := r.log.Info()
		if res.Error != "" {
			ev = r.log.Error().Str("error", res.Error)
		}
		a := res.Assignment
		if a.Kind != rbac.GrantStanding {
			ev = ev.Str("kind", string(a.Kind))
		}
		if !a.EndsAt.IsZero() {
			ev = ev.Time("endsAt", a.EndsAt)
		}
		ev.Str("op", string(res.Op)).Str("scope", a.Scope).Str("principal", a.PrincipalID).Str("role", a.RoleID).Msg("role assignment")
	}
	for _, a := range rep.Expired {
		r.log.Info().Str("kind", string(a.Kind)).Time("endsAt", a.EndsAt).Str("scope", a.Scope).Str("principal", a.PrincipalID).
			Str("role", a.RoleID).Msg("role assignment schedule expired")
	}
	recs := report.AuditRecords(rep)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = append(r.held, recs...)
	if err := r.writeLocked(ctx); err != nil {
		r.log.Error().Err(err).Msg("audit records of role assignment changes held to be written again")
	}
}

// flush writes the records still held; it fails while any cannot be written.
func (r *roleAudit) flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writeLocked(ctx)
}

// writeLocked writes the held records, in batches the trail writes
// atomically, trying each batch with backoff; what was written leaves the
// hold.
func (r *roleAudit) writeLocked(ctx context.Context) error {
	const batch = 99 // audit.Options.MaxBatchRecords' maximum: one batch, one outcome
	for len(r.held) > 0 {
		n := min(batch, len(r.held))
		var err error
		for try, delay := 0, r.backoff.Delay; try < r.backoff.Attempts; try, delay = try+1, delay*2 {
			if try > 0 {
				select {
				case <-ctx.Done():
					return fmt.Errorf("%d audit records of role assignment changes not written: %w", len(r.held), ctx.Err())
				case <-time.After(delay):
				}
			}
			if err = r.trail.Append(ctx, r.held[:n]...); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("%d audit records of role assignment changes not written after %d tries (held to be written again): %w",
				len(r.held), r.backoff.Attempts, err)
		}
		r.held = r.held[n:]
	}
	r.held = nil
	return nil
}

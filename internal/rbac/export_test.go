package rbac

import (
	"context"
	"io"
	"time"

	"github.com/adfscim/adfscim/internal/directory"
)

// The few internals that the tests, written in package rbac_test so that
// they can build the real ARM client (internal/rbac/armclient imports
// rbac), reach.

// DesiredAssignment is the assignment the plan wants for principal.
func DesiredAssignment(scope, principal string, pt PrincipalType, role, subject string) Assignment {
	return desiredAssignment(scope, principal, pt, role, subject)
}

// SortAssignments sorts as the plan does.
func SortAssignments(as []Assignment) { sortAssignments(as) }

// RoleDisplay is how the plan and report name a role.
func RoleDisplay(written, guid string) string { return roleDisplay(written, guid) }

// ChangeRefs is accessRefs: the refs whose access a directory change may
// alter, with principalAttr the resolver's attribute.
func ChangeRefs(ch *directory.Change, principalAttr string) []Ref {
	return accessRefs(ch, principalAttr)
}

// NeedsRenewal reports whether held assignment a must be renewed to match d.
func NeedsRenewal(d, a Assignment) bool { return needsRenewal(d, a) }

// ProgressBar is the terminal progress callback of RunCLI.
func ProgressBar(out io.Writer) func(done, total int) { return progressBar(out) }

// GrantFor is the binding's grant of a at now for a person ending at
// personEnd.
func (b Binding) GrantFor(a Assignment, now, personEnd time.Time) Assignment {
	return b.grant(a, now, personEnd)
}

// PendingRow is the stored form of a queue item.
type PendingRow = pendingRow

// ReconcilerWith is a Reconciler with options o and nothing started.
func ReconcilerWith(o Options) *Reconciler { return &Reconciler{opts: o} }

// Opts are the reconciler's options after defaults; tests may change them
// before the first run.
func (r *Reconciler) Opts() *Options { return &r.opts }

// Instance names the reconciler in claims and the lease.
func (r *Reconciler) Instance() string { return r.instance }

// Lease is the reconcile lease of r.
func (r *Reconciler) Lease() *lease { return r.lease() }

// OverBudget reports whether the plan holds changes back for the budget.
func (p Plan) OverBudget() bool { return p.overBudget() }

// CachedPrincipal is the principal cache's entry for userID ("" if none).
func (r *Reconciler) CachedPrincipal(ctx context.Context, userID string) (string, error) {
	return r.cachedPrincipal(ctx, userID)
}

// Claimed is a pending item a claim took, with the ETag it holds.
type Claimed struct {
	Ref  Ref
	ETag string
}

// Claim claims up to limit pending items (0: all) for r.
func (r *Reconciler) Claim(ctx context.Context, limit int) ([]Claimed, error) {
	items, err := r.claim(ctx, limit)
	out := make([]Claimed, len(items))
	for i, it := range items {
		out[i] = Claimed{Ref: it.ref, ETag: it.etag}
	}
	return out, err
}

// Finish removes claimed items from the queue (those still held as claimed).
func (r *Reconciler) Finish(ctx context.Context, items []Claimed) error {
	cs := make([]claimed, len(items))
	for i, it := range items {
		cs[i] = claimed{ref: it.Ref, etag: it.ETag}
	}
	return r.finish(ctx, cs)
}

// Ledger is the schedule ledger as a run reads it (expiry.go).
type Ledger = ledger

// LedgerRow is the stored form of a ledger row.
type LedgerRow = ledgerRow

// The ledger's partition, its row-key prefix per principal and the state of
// a schedule adfscim removed.
const (
	SchedulePartition = schedulePartition
	SchedRemoved      = schedRemoved
)

// LedgerPrefix is the row-key prefix of principal's ledger rows.
func LedgerPrefix(principal string) string { return ledgerPrefix(principal) }

// ReadLedger reads the ledger rows of principals (all when nil).
func (r *Reconciler) ReadLedger(ctx context.Context, principals []string) (Ledger, error) {
	return r.readLedger(ctx, principals)
}

// ListScope lists what ARM holds at scope (for principal, "" for all);
// scheds says whether schedules were read.
func (r *Reconciler) ListScope(ctx context.Context, scope, principal string, sweep bool) ([]Assignment, bool, error) {
	return r.list(ctx, scope, principal, sweep)
}

// Observe settles the ledger rows of scope against listed (expiry.go).
func (r *Reconciler) Observe(ctx context.Context, led Ledger, listed []Assignment, scope string, only map[string]bool, at time.Time, subjects map[string]string) []Assignment {
	return r.observe(ctx, led, listed, scope, only, at, subjects)
}

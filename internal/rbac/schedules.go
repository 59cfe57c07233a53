package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ScheduleAPI is what the reconciler needs of ARM for time-bound and
// eligible bindings (PIM's schedule requests); armclient.Client implements it. The
// reconciler uses it only when the mapping has such bindings.
type ScheduleAPI interface {
	// ListSchedules returns the eligibility schedules and the assigned
	// (not activated) role assignment schedules made exactly at scope, all
	// of them or those of one principal, each eligibility with its current
	// activation; covered are the (scope, principal, role) keys of the role
	// assignments those schedules and activations hold, which List also
	// returns and which are the schedules', not standing assignments.
	ListSchedules(ctx context.Context, scope, principal string) (schedules []Assignment, covered map[string]bool, err error)
	// RequestSchedule submits the schedule request that carries out op on a:
	// "create" (AdminAssign), "renew" (AdminUpdate to a.EndsAt) or
	// "delete" (AdminRemove, and first the removal of a's activation, if
	// any). Requests are idempotent: a create of an existing schedule and a
	// removal of a missing one succeed.
	RequestSchedule(ctx context.Context, op Op, a Assignment) error
}

// AssignmentCounter counts the role assignments of a subscription, all of
// them (every scope in it, every principal): the number Azure's limit of
// 5,000 applies to. armclient.Client implements it.
type AssignmentCounter interface {
	CountAssignments(ctx context.Context, subscription string) (int, error)
}

// CoveredKey is the key ListSchedules' covered set uses.
func CoveredKey(scope, principal, role string) string { return assignmentKey(scope, principal, role) }

// ErrNoScheduleAPI is returned when the mapping has time-bound or eligible
// bindings and the ARM client cannot make schedule requests.
var ErrNoScheduleAPI = errors.New("rbac: the mapping has time-bound or eligible bindings but the ARM client has no schedule API")

// list returns what ARM holds at scope (of one principal when principal is
// set): the standing role assignments and the schedules, without the role
// assignments that only materialize a schedule or an activation; scheds
// says whether the schedules were read (expiry.go counts on it). The
// schedules are read when the mapping has time-bound or eligible bindings,
// and on the full reconcile (sweep) whenever the client can read them, so
// that the schedules of a binding since changed to standing, or removed,
// are taken away within one cycle; a sweep's failure to read them when the
// mapping has no such bindings is logged, not fatal (a deployment without
// PIM may not be allowed to read them).
func (r *Reconciler) list(ctx context.Context, scope, principal string, sweep bool) (as []Assignment, scheds bool, err error) {
	as, err = r.opts.ARM.List(ctx, scope, principal)
	uses := r.opts.Mapping.UsesSchedules()
	if err != nil || (!uses && !sweep) {
		return as, false, err
	}
	sa, ok := r.opts.ARM.(ScheduleAPI)
	if !ok {
		if uses {
			return nil, false, ErrNoScheduleAPI
		}
		return as, false, nil
	}
	listed, covered, err := sa.ListSchedules(ctx, scope, principal)
	if err != nil && !uses {
		r.log.Warn().Err(err).Str("scope", scope).Msg("rbac: cannot read PIM schedules; leftover schedules of earlier time-bound or eligible bindings are not removed")
		return as, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := as[:0:0]
	for _, a := range as {
		if !covered[assignmentKey(a.Scope, a.PrincipalID, a.RoleID)] {
			out = append(out, a)
		}
	}
	return append(out, listed...), true, nil
}

// change carries out one planned change.
func (r *Reconciler) change(ctx context.Context, op Op, a Assignment) error {
	if a.Kind.Scheduled() {
		sa, ok := r.opts.ARM.(ScheduleAPI)
		if !ok {
			return ErrNoScheduleAPI
		}
		return sa.RequestSchedule(ctx, op, a)
	}
	switch op {
	case OpCreate:
		return r.opts.ARM.Create(ctx, a)
	case OpDelete:
		return r.opts.ARM.Delete(ctx, a)
	}
	return fmt.Errorf("rbac: %s of a standing assignment", op)
}

// KindText describes a grant for people: "active", "active until …",
// "eligible", "eligible until …".
func KindText(a Assignment) string {
	s := "active"
	if a.Kind == GrantEligible {
		s = "eligible"
	}
	if !a.EndsAt.IsZero() {
		s += " until " + a.EndsAt.UTC().Format("2006-01-02 15:04Z")
	}
	if a.Activation != nil {
		s += ", activated " + a.Activation.Start.UTC().Format("2006-01-02 15:04Z")
		if !a.Activation.End.IsZero() {
			s += " until " + a.Activation.End.UTC().Format("2006-01-02 15:04Z")
		}
	}
	return strings.TrimSpace(s)
}

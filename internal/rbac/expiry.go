package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/store"
)

// The schedule ledger is what adfscim knows of the PIM schedules it made, so
// that a schedule that ends by itself at its end time (ARM takes it away and
// tells no one) gets one rbac.expired record. One row per schedule, in the
// reconciler's table:
//
//	PartitionKey "schedule", RowKey EncodeKey(principal)+"|"+scheduleKey
//
// A row is written when ARM confirms a schedule adfscim created (and moved
// to the new end when it renews one), and adopted from any list that shows
// an owned schedule the ledger lacks (a create whose answer was lost). A
// removal by adfscim marks the row "removed" before the request goes to
// ARM. A list that no longer shows a live row's schedule, read after the
// ledger was, settles it: past its end it expired (recorded), before its end
// someone else took it away ("gone", not an expiry). Every change of state
// is a replace that must match the ETag the ledger was read with, so that of
// several instances seeing one expiry exactly one records it, and a removal
// by adfscim racing the sweep is never taken for an expiry. A settled row
// stays for tombstoneTTL, so that a list read before the schedule went
// cannot adopt it again, then the full reconcile deletes it.
const schedulePartition = "schedule"

// tombstoneTTL is how long a settled row outlives its schedule.
const tombstoneTTL = time.Hour

// schedState is where a ledger row's schedule stands.
type schedState string

const (
	schedLive    schedState = ""        // ARM holds it (as far as adfscim knows)
	schedRemoved schedState = "removed" // adfscim asked ARM to remove it
	schedExpired schedState = "expired" // it ended by itself at its end time; recorded
	schedGone    schedState = "gone"    // it went before its end, not by adfscim's request
)

// ledgerRow is one schedule adfscim made.
type ledgerRow struct {
	Kind          GrantKind     `json:"kind"`
	Scope         string        `json:"scope"`
	PrincipalID   string        `json:"principalId"`
	PrincipalType PrincipalType `json:"principalType,omitempty"`
	RoleID        string        `json:"roleId"`
	Subject       string        `json:"subject,omitempty"`
	Request       string        `json:"request,omitempty"`
	Start         time.Time     `json:"start"`
	EndsAt        time.Time     `json:"endsAt,omitzero"`
	State         schedState    `json:"state,omitempty"`
	// At is when State was set (the reconciler's clock).
	At time.Time `json:"at,omitzero"`
}

func rowOf(a Assignment) ledgerRow {
	return ledgerRow{Kind: a.Kind, Scope: normScope(a.Scope), PrincipalID: strings.ToLower(a.PrincipalID), PrincipalType: a.PrincipalType,
		RoleID: strings.ToLower(a.RoleID), Subject: a.Subject, Request: strings.ToLower(a.Name), Start: a.Start.UTC(), EndsAt: a.EndsAt.UTC()}
}

func (l ledgerRow) assignment() Assignment {
	return Assignment{Kind: l.Kind, Scope: l.Scope, PrincipalID: l.PrincipalID, PrincipalType: l.PrincipalType, RoleID: l.RoleID,
		Subject: l.Subject, Name: l.Request, Start: l.Start, EndsAt: l.EndsAt}
}

// ledgerKey is the RowKey of a schedule: its principal (so that a drain
// reads the rows of its principals only), then the kind, scope, role and
// start that tell one schedule from another (a renewal keeps the start; a
// grant made again after the schedule went has a new one).
func ledgerKey(a Assignment) string {
	id := uuid.NewSHA1(namespace, []byte("schedule|"+string(a.Kind)+"|"+assignmentKey(a.Scope, a.PrincipalID, a.RoleID)+"|"+
		a.Start.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)))
	return ledgerPrefix(a.PrincipalID) + id.String()
}

func ledgerPrefix(principal string) string { return store.EncodeKey(strings.ToLower(principal)) + "|" }

func (l ledgerRow) entity(key string) store.Entity {
	data, _ := json.Marshal(l) // plain fields: cannot fail
	return store.Entity{PartitionKey: schedulePartition, RowKey: key, Data: data}
}

// ledgerEntry is a row as read, with the ETag every change must match.
type ledgerEntry struct {
	row  ledgerRow
	etag string
}

// ledger is a snapshot of rows by RowKey, read before ARM is listed.
type ledger map[string]ledgerEntry

// readLedger reads the rows of the given principals, or every row when
// principals is nil.
func (r *Reconciler) readLedger(ctx context.Context, principals []string) (ledger, error) {
	led := ledger{}
	read := func(prefix string) error {
		rows, err := r.opts.Store.List(ctx, r.table, store.Query{PartitionKey: schedulePartition, Prefix: prefix})
		if err != nil {
			return fmt.Errorf("rbac: read the schedule ledger: %w", err)
		}
		for _, e := range rows {
			var l ledgerRow
			if err := json.Unmarshal(e.Data, &l); err != nil {
				return fmt.Errorf("rbac: schedule ledger row %s: %w", e.RowKey, err)
			}
			led[e.RowKey] = ledgerEntry{row: l, etag: e.ETag}
		}
		return nil
	}
	if principals == nil {
		if err := read(""); err != nil {
			return nil, err
		}
		return led, nil
	}
	for _, p := range principals {
		if err := read(ledgerPrefix(p)); err != nil {
			return nil, err
		}
	}
	return led, nil
}

// settleRow moves a row to state if it still has the ETag it was read with;
// ok is false when another instance (or a removal) changed it first.
func (r *Reconciler) settleRow(ctx context.Context, key string, e ledgerEntry, state schedState) (ok bool, err error) {
	e.row.State, e.row.At = state, r.now().UTC()
	_, err = r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Replace, IfMatch: e.etag, Entity: e.row.entity(key)}})
	switch {
	case err == nil:
		return true, nil
	case store.IsPrecondition(err) || store.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("rbac: schedule ledger: %w", err)
}

// observe compares the ledger with what one list of ARM at scope showed
// (listed, read at or after at, after led was read), for the principals in
// only (every principal when nil). It adopts the owned schedules the ledger
// lacks and settles the live rows whose schedule the list no longer shows;
// it returns those that ended by themselves, each claimed by this call
// alone. subjects names the SCIM user of a principal, for adopted rows.
func (r *Reconciler) observe(ctx context.Context, led ledger, listed []Assignment, scope string, only map[string]bool, at time.Time, subjects map[string]string) []Assignment {
	scope = normScope(scope)
	mine := func(principal string) bool { return only == nil || only[strings.ToLower(principal)] }
	var errs []error
	present := map[string]bool{}
	for _, a := range listed {
		if !a.Kind.Scheduled() || !a.Owned() || normScope(a.Scope) != scope || !mine(a.PrincipalID) {
			continue
		}
		k := ledgerKey(a)
		present[k] = true
		e, known := led[k]
		switch {
		case !known:
			l := rowOf(a)
			l.Subject = subjects[l.PrincipalID]
			_, err := r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Insert, Entity: l.entity(k)}})
			if err != nil && !store.IsExists(err) {
				errs = append(errs, err)
			}
		case e.row.State == schedLive && !sameEnd(e.row.EndsAt, a.EndsAt):
			// A renewal whose row was not moved (its write failed).
			e.row.EndsAt, e.row.Request = a.EndsAt.UTC(), strings.ToLower(a.Name)
			_, err := r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Replace, IfMatch: e.etag, Entity: e.row.entity(k)}})
			if err != nil && !store.IsPrecondition(err) && !store.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	var expired []Assignment
	for k, e := range led {
		l := e.row
		if l.State != schedLive || !l.Kind.Scheduled() || l.Scope != scope || !mine(l.PrincipalID) || present[k] {
			continue
		}
		state := schedGone
		if !l.EndsAt.IsZero() && !l.EndsAt.After(at) {
			state = schedExpired
		}
		ok, err := r.settleRow(ctx, k, e, state)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case ok && state == schedExpired:
			expired = append(expired, l.assignment())
		case ok:
			r.log.Warn().Str("scope", l.Scope).Str("principal", l.PrincipalID).Str("role", l.RoleID).Str("kind", string(l.Kind)).
				Msg("rbac: a schedule adfscim made went before its end, not by adfscim's request")
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Error().Err(err).Str("scope", scope).Msg("rbac: schedule ledger not brought up to date; the next run tries again")
	}
	sortAssignments(expired)
	return expired
}

// forgetSettled deletes the settled rows older than tombstoneTTL.
func (r *Reconciler) forgetSettled(ctx context.Context, led ledger) {
	cut := r.now().Add(-tombstoneTTL)
	for k, e := range led {
		if e.row.State == schedLive || e.row.At.After(cut) {
			continue
		}
		_, err := r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Delete, IfMatch: e.etag,
			Entity: store.Entity{PartitionKey: schedulePartition, RowKey: k}}})
		if err != nil && !store.IsPrecondition(err) && !store.IsNotFound(err) {
			r.log.Warn().Err(err).Msg("rbac: schedule ledger: settled row not deleted")
		}
	}
}

// beforeChange marks a schedule removed before adfscim asks ARM to remove
// it, so that a sweep that finds it gone meanwhile does not take the
// removal for an expiry. A removal whose mark cannot be written is not
// made (it fails, and is tried again by the next run).
func (r *Reconciler) beforeChange(ctx context.Context, op Op, a Assignment) error {
	if op != OpDelete || !a.Kind.Scheduled() {
		return nil
	}
	l := rowOf(a)
	l.State, l.At = schedRemoved, r.now().UTC()
	if _, err := r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Upsert, Entity: l.entity(ledgerKey(a))}}); err != nil {
		return fmt.Errorf("rbac: mark the schedule removed in the ledger: %w", err)
	}
	return nil
}

// afterChange writes the row of a schedule ARM confirmed creating, or moves
// a renewed one to its new end. A failure is logged: the next list adopts
// the schedule.
func (r *Reconciler) afterChange(ctx context.Context, op Op, a Assignment) {
	if !a.Kind.Scheduled() || (op != OpCreate && op != OpRenew) {
		return
	}
	k := ledgerKey(a)
	err := func() error {
		ins := []store.Op{{Kind: store.Insert, Entity: rowOf(a).entity(k)}}
		if op == OpCreate {
			if _, err := r.opts.Store.Batch(ctx, r.table, ins); err != nil && !store.IsExists(err) {
				return err
			}
			return nil
		}
		e, err := r.opts.Store.Get(ctx, r.table, schedulePartition, k)
		if store.IsNotFound(err) {
			if _, err := r.opts.Store.Batch(ctx, r.table, ins); err != nil && !store.IsExists(err) {
				return err
			}
			return nil
		}
		if err != nil {
			return err
		}
		var l ledgerRow
		if err := json.Unmarshal(e.Data, &l); err != nil {
			return err
		}
		if l.State != schedLive {
			return nil
		}
		l.EndsAt, l.Request = a.EndsAt.UTC(), strings.ToLower(a.Name)
		if a.Subject != "" {
			l.Subject = a.Subject
		}
		_, err = r.opts.Store.Batch(ctx, r.table, []store.Op{{Kind: store.Replace, IfMatch: e.ETag, Entity: l.entity(k)}})
		return err
	}()
	if err != nil {
		r.log.Warn().Err(err).Str("op", string(op)).Str("scope", a.Scope).Str("principal", a.PrincipalID).
			Msg("rbac: schedule ledger not written; the next list adopts the schedule")
	}
}

// subjectsOf maps each resolved principal of st to its SCIM user id.
func subjectsOf(st State) map[string]string {
	out := make(map[string]string, len(st.Principals))
	for uid, p := range st.Principals {
		out[strings.ToLower(p)] = uid
	}
	return out
}

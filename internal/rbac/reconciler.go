package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/store"
)

// AssignmentAPI is what the reconciler needs of ARM; armclient.Client
// implements it.
type AssignmentAPI interface {
	// List returns the assignments made exactly at scope, all of them or
	// those of one principal.
	List(ctx context.Context, scope, principal string) ([]Assignment, error)
	// Create makes an assignment (idempotent).
	Create(ctx context.Context, a Assignment) error
	// Delete removes an assignment (idempotent).
	Delete(ctx context.Context, a Assignment) error
}

// Options configure a Reconciler.
type Options struct {
	Mapping   *Mapping
	Directory Directory
	ARM       AssignmentAPI
	// Store holds the pending queue, the principal cache and the lease.
	Store store.Store
	// Table is the store table (default "rbac").
	Table    string
	Resolver Resolver
	// Concurrency bounds the ARM writes in flight (default 4).
	Concurrency int
	// ReadConcurrency bounds the ARM lists in flight in one drain or plan
	// (default 4).
	ReadConcurrency int
	// Instance names this process in claims and the lease (default random).
	Instance string
	// LeaseDuration is how long a reconcile lease lasts unrenewed (default
	// 60s; renewed every third of it).
	LeaseDuration time.Duration
	// ClaimDuration is how long a claimed pending item stays invisible to
	// other instances (default 2m).
	ClaimDuration time.Duration
	// TargetedListMax is the most principals a drain lists per factory and
	// principal before it lists each factory whole, once, instead (default
	// 10).
	TargetedListMax int
	// Logger receives one line per failure; nil logs nothing.
	Logger *zerolog.Logger
	// OnApplied, when set, is told what every drain and reconcile planned
	// and did (for the audit trail): each assignment created or deleted,
	// each failure, each drift finding, each schedule that expired.
	OnApplied func(ctx context.Context, rep Report)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// EndsAttribute names the user attribute holding a person's end date
	// (see ParseEndsAt); empty reads none.
	EndsAttribute string
	// BudgetShare is the share of Azure's 5,000 role assignments per
	// subscription that creates stop short of (default 0.9; negative turns
	// the check off). See budget.go.
	BudgetShare float64
	// BudgetRefresh is how long the fast path trusts a subscription's count
	// (default 5m); the full reconcile always counts afresh.
	BudgetRefresh time.Duration
}

// Reconciler keeps role assignments in line with the SCIM state.
type Reconciler struct {
	opts     Options
	table    string
	instance string
	wake     chan struct{}
	log      zerolog.Logger
	budget   *budget
}

// New checks the options and builds a reconciler.
func New(o Options) (*Reconciler, error) {
	if o.Mapping == nil || o.Directory == nil || o.ARM == nil || o.Store == nil {
		return nil, errors.New("rbac: Mapping, Directory, ARM and Store are required")
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = 4
	}
	if o.Instance == "" {
		o.Instance = uuid.NewString()
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = time.Minute
	}
	if o.ClaimDuration <= 0 {
		o.ClaimDuration = 2 * time.Minute
	}
	if o.TargetedListMax <= 0 {
		o.TargetedListMax = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := zerolog.Nop()
	if o.Logger != nil {
		l = *o.Logger
	}
	r := &Reconciler{opts: o, table: o.Table, instance: o.Instance, wake: make(chan struct{}, 1), log: l}
	r.budget = newBudget(r)
	return r, nil
}

func (r *Reconciler) now() time.Time { return r.opts.Now() }

// Result is the outcome of one planned change.
type Result struct {
	Op         Op         `json:"op"`
	Assignment Assignment `json:"assignment"`
	Error      string     `json:"error,omitempty"`
	// Status is the HTTP status ARM answered a failed change with (429
	// when it throttled), 0 when the failure was not an ARM answer.
	Status int `json:"status,omitempty"`
}

// MarshalJSON shows an empty result list as [] rather than null.
func (rep Report) MarshalJSON() ([]byte, error) {
	type plain Report
	if rep.Results == nil {
		rep.Results = []Result{}
	}
	rep.Plan.normalize()
	return json.Marshal(plain(rep))
}

// Report is what a drain or a reconcile did.
type Report struct {
	Plan    Plan     `json:"plan"`
	Results []Result `json:"results"`
	Created int      `json:"created"`
	Deleted int      `json:"deleted"`
	Renewed int      `json:"renewed,omitempty"`
	Failed  int      `json:"failed"`
	// Expired are the schedules adfscim made that ended by themselves at
	// their end time, found by this run's lists (each reported by one run
	// only, see expiry.go).
	Expired  []Assignment `json:"expired,omitempty"`
	Items    int          `json:"pendingItems"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
}

// snapshot reads the SCIM state relevant to the mapping. With users non-nil
// only those users are read (the fast path); deleted users are reported in
// gone.
func (r *Reconciler) snapshot(ctx context.Context, users map[string]bool) (State, []Unresolved, error) {
	st := State{Members: map[string][]string{}, Users: map[string]User{}, Principals: map[string]string{}, Ends: map[string]time.Time{}, Now: r.now()}
	err := r.opts.Directory.Groups(ctx, func(g Group) error {
		for _, b := range r.opts.Mapping.Bindings {
			if b.MatchesGroup(g) {
				st.Groups = append(st.Groups, g)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return st, nil, fmt.Errorf("rbac: read groups: %w", err)
	}
	want := map[string]bool{}
	ug, indexed := r.opts.Directory.(UserGroups)
	if indexed && users != nil {
		// The fast path with a directory that indexes memberships by user:
		// read only the pending users' groups, not every member of big groups.
		bound := map[string]bool{}
		for _, g := range st.Groups {
			if r.userModeGroup(g) {
				bound[g.ID] = true
			}
		}
		for uid := range users {
			err := ug.UserGroups(ctx, uid, func(gid string) error {
				if bound[gid] {
					st.Members[gid] = append(st.Members[gid], uid)
				}
				return nil
			})
			if err != nil {
				return st, nil, fmt.Errorf("rbac: read groups of %s: %w", uid, err)
			}
		}
	}
	for _, g := range st.Groups {
		if !r.userModeGroup(g) || (indexed && users != nil) {
			continue
		}
		err := r.opts.Directory.Members(ctx, g.ID, func(uid string) error {
			if users == nil || users[uid] {
				st.Members[g.ID] = append(st.Members[g.ID], uid)
				want[uid] = true
			}
			return nil
		})
		if err != nil {
			return st, nil, fmt.Errorf("rbac: read members of %s: %w", g.ID, err)
		}
	}
	for uid := range users {
		want[uid] = true
	}
	if err := r.grantHolders(ctx, users, want); err != nil {
		return st, nil, err
	}
	var unresolved []Unresolved
	for uid := range want {
		u, err := r.opts.Directory.User(ctx, uid)
		if errors.Is(err, ErrUserNotFound) {
			continue
		}
		if err != nil {
			return st, nil, fmt.Errorf("rbac: read user %s: %w", uid, err)
		}
		st.Users[uid] = u
		if r.opts.EndsAttribute != "" {
			for k, v := range u.Attributes {
				if end, ok := ParseEndsAt(v); ok && strings.EqualFold(k, r.opts.EndsAttribute) {
					st.Ends[uid] = end
				}
			}
		}
		if !u.Active {
			continue // inactive users get nothing: no need to resolve them
		}
		p, err := r.opts.Resolver.Resolve(ctx, u)
		if err != nil {
			unresolved = append(unresolved, Unresolved{UserID: u.ID, UserName: u.UserName, Reason: err.Error()})
			continue
		}
		st.Principals[uid] = p
	}
	return st, unresolved, nil
}

func (r *Reconciler) userModeGroup(g Group) bool {
	for _, b := range r.opts.Mapping.Bindings {
		if b.Mode == ModeUser && b.MatchesGroup(g) {
			return true
		}
	}
	return false
}

// actual lists the assignments on every mapped factory, one list per
// factory (paged), Options.ReadConcurrency factories at a time; scheds are
// the factories whose schedules were read.
func (r *Reconciler) actual(ctx context.Context) (out []Assignment, scheds map[string]bool, err error) {
	fs := r.opts.Mapping.Factories
	lists := make([][]Assignment, len(fs))
	read := make([]bool, len(fs))
	errs := make([]error, len(fs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(r.opts.ReadConcurrency, len(fs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				lists[i], read[i], errs[i] = r.list(ctx, fs[i], "", true)
			}
		}()
	}
	for i := range fs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	scheds = map[string]bool{}
	for i, as := range lists {
		out = append(out, as...)
		if read[i] {
			scheds[normScope(fs[i])] = true
		}
	}
	return out, scheds, nil
}

// Plan is the full dry run: every mapped group, every mapped factory.
func (r *Reconciler) Plan(ctx context.Context) (Plan, error) {
	p, _, _, err := r.fullPlan(ctx, false)
	return p, err
}

// fullPlan plans over the whole state. With observe (the runs that apply,
// not the dry run) it also brings the schedule ledger up to date and
// returns the schedules that expired (expiry.go).
func (r *Reconciler) fullPlan(ctx context.Context, observe bool) (Plan, State, []Assignment, error) {
	st, unresolved, err := r.snapshot(ctx, nil)
	if err != nil {
		return Plan{}, st, nil, err
	}
	desired, problems := Desired(r.opts.Mapping, st)
	var led ledger
	if observe {
		// Read before ARM: a schedule a list no longer shows was there
		// when its row was read.
		if led, err = r.readLedger(ctx, nil); err != nil {
			r.log.Error().Err(err).Msg("rbac: schedule expiries not checked in this run")
		}
	}
	at := r.now()
	actual, scheds, err := r.actual(ctx)
	if err != nil {
		return Plan{}, st, nil, err
	}
	var expired []Assignment
	if led != nil {
		subjects := subjectsOf(st)
		for _, f := range r.opts.Mapping.Factories {
			if scheds[normScope(f)] {
				expired = append(expired, r.observe(ctx, led, actual, f, nil, at, subjects)...)
			}
		}
		sortAssignments(expired)
		r.forgetSettled(ctx, led)
	}
	p := Diff(r.opts.Mapping, desired, actual, nil)
	p = r.budget.admit(ctx, p, true)
	p.Budget = mergeBudget(p.Budget)
	p.Unresolved, p.Problems = unresolved, problems
	p.normalize()
	return p, st, expired, nil
}

// Assignments lists the actual assignments on the mapped factories.
func (r *Reconciler) Assignments(ctx context.Context) ([]Assignment, error) {
	as, _, err := r.actual(ctx)
	if err != nil {
		return nil, err
	}
	sortAssignments(as)
	return as, nil
}

// apply carries out the plan with bounded concurrency; every change gets a
// result and one failure never stops the others.
func (r *Reconciler) apply(ctx context.Context, p Plan, progress func(done, total int)) []Result {
	w := r.startWriter(ctx, len(p.Creates)+len(p.Deletes)+len(p.Renewals), progress)
	w.submit(p)
	return w.close()
}

func summarize(rep *Report) {
	for _, res := range rep.Results {
		switch {
		case res.Error != "":
			rep.Failed++
		case res.Op == OpCreate:
			rep.Created++
		case res.Op == OpRenew:
			rep.Renewed++
		default:
			rep.Deleted++
		}
	}
}

// failedPrincipals are the principals with at least one failed change.
func failedPrincipals(results []Result) map[string]bool {
	out := map[string]bool{}
	for _, res := range results {
		if res.Error != "" {
			out[strings.ToLower(res.Assignment.PrincipalID)] = true
		}
	}
	return out
}

// Drain applies the pending items this instance can claim (the fast path).
// User items get a plan targeted at their principals; any group item makes
// it a full plan.
func (r *Reconciler) Drain(ctx context.Context) (Report, error) {
	rep := Report{Started: r.now()}
	items, err := r.claim(ctx, 1000)
	if err != nil || len(items) == 0 {
		rep.Finished = r.now()
		return rep, err
	}
	rep.Items = len(items)
	full := false
	var userIDs []string
	for _, it := range items {
		if it.ref.Kind == RefGroup {
			full = true
		} else {
			userIDs = append(userIDs, it.ref.ID)
		}
	}
	var (
		st      State
		unread  map[string]bool
		readErr error
	)
	if full {
		rep.Plan, st, rep.Expired, err = r.fullPlan(ctx, true)
		if err == nil {
			rep.Results = r.apply(ctx, rep.Plan, nil)
		}
	} else {
		var d drained
		d, err = r.targetedDrain(ctx, userIDs)
		rep.Plan, st, rep.Results, rep.Expired, unread, readErr = d.plan, d.st, d.results, d.expired, d.unread, d.err
	}
	if err != nil {
		rep.Finished = r.now()
		return rep, err // nothing written; the items stay claimed until their claim expires
	}
	summarize(&rep)
	// A failed list leaves its principals' items claimed (they come back
	// when the claim expires); what was read has been applied.
	err = errors.Join(readErr, r.settle(ctx, items, st, rep.Results, unread))
	rep.Finished = r.now()
	r.applied(ctx, rep)
	return rep, err
}

// applied tells OnApplied about a run that changed or found something.
func (r *Reconciler) applied(ctx context.Context, rep Report) {
	if r.opts.OnApplied != nil && (len(rep.Results) > 0 || len(rep.Plan.Drift) > 0 || len(rep.Expired) > 0 || rep.Plan.overBudget()) {
		r.opts.OnApplied(context.WithoutCancel(ctx), rep)
	}
}

// settle updates the principal cache and removes the items whose changes
// all succeeded and whose assignments were all read (unread names the
// principals whose were not); the others come back when their claim expires.
func (r *Reconciler) settle(ctx context.Context, items []claimed, st State, results []Result, unread map[string]bool) error {
	failed := failedPrincipals(results)
	for p := range unread {
		failed[p] = true
	}
	var errs []error
	// The principal cache's upserts go store.MaxBatchOps to a batch (a burst
	// settles hundreds of people), the last one for a user winning.
	upserts := map[string]store.Op{} // by RowKey
	var rows []string                // RowKeys in first-seen order
	upsert := func(userID, principal string) {
		op := principalOp(userID, principal)
		if _, ok := upserts[op.Entity.RowKey]; !ok {
			rows = append(rows, op.Entity.RowKey)
		}
		upserts[op.Entity.RowKey] = op
	}
	// Remember the principals just granted, for the fast path's deletes.
	for _, res := range results {
		a := res.Assignment
		if res.Op == OpCreate && res.Error == "" && a.PrincipalType == PrincipalUser {
			upsert(a.Subject, a.PrincipalID)
		}
	}
	var done []claimed
	for _, it := range items {
		if it.ref.Kind == RefGroup {
			if len(failed) == 0 {
				done = append(done, it)
			}
			continue
		}
		old, err := r.cachedPrincipal(ctx, it.ref.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cur := st.Principals[it.ref.ID]
		if failed[old] || failed[cur] {
			continue // comes back when the claim expires
		}
		// A deleted user is forgotten; an inactive or unresolved one keeps
		// its cached principal, so a later delete still finds its assignments.
		_, present := st.Users[it.ref.ID]
		switch {
		case cur == old || (cur == "" && present):
		case cur != "":
			upsert(it.ref.ID, cur)
		default:
			delete(upserts, store.EncodeKey(it.ref.ID))
			if err := r.cachePrincipal(ctx, it.ref.ID, ""); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		done = append(done, it)
	}
	var ops []store.Op
	for _, rk := range rows {
		if op, ok := upserts[rk]; ok {
			ops = append(ops, op)
		}
	}
	unsaved := map[string]bool{} // RowKeys of users whose cache write failed
	for batch := range slices.Chunk(ops, store.MaxBatchOps) {
		if _, err := r.opts.Store.Batch(ctx, r.table, batch); err != nil {
			errs = append(errs, fmt.Errorf("rbac: principal cache: %w", err))
			for _, op := range batch {
				unsaved[op.Entity.RowKey] = true
			}
		}
	}
	if len(unsaved) > 0 { // those items come back when their claim expires
		done = slices.DeleteFunc(done, func(it claimed) bool {
			return it.ref.Kind == RefUser && unsaved[store.EncodeKey(it.ref.ID)]
		})
	}
	if err := r.finish(ctx, done); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Notify wakes the background worker.
func (r *Reconciler) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run is the background worker: it drains pending items whenever Enqueue
// (or Notify) wakes it, and every poll interval if poll > 0 (to pick up
// items enqueued by other instances). It returns when ctx is done.
func (r *Reconciler) Run(ctx context.Context, poll time.Duration) {
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick:
		}
		for {
			rep, err := r.Drain(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Error().Err(err).Msg("rbac: drain failed")
			}
			if err != nil || rep.Items == 0 || rep.Failed > 0 {
				break
			}
		}
	}
}

// Reconcile is the timer's full run: it takes the lease (ErrLeaseHeld when
// another instance has it), claims whatever is pending, plans over the whole
// state, applies, and reports drift. progress, when non-nil, is called after
// every change. The lease is renewed beside the run; losing it stops the run
// with an error wrapping ErrLeaseHeld.
func (r *Reconciler) Reconcile(ctx context.Context, progress func(done, total int)) (Report, error) {
	started := r.now()
	l := r.lease()
	if err := l.Acquire(ctx); err != nil {
		return Report{Started: started}, err
	}
	ctx, release := l.Keep(ctx)
	defer func() {
		if err := release(); err != nil {
			r.log.Error().Err(err).Msg("rbac: release lease")
		}
	}()
	return r.reconcile(ctx, started, progress)
}

// reconcile is Reconcile's run under the lease: a context cancelled with a
// cause (the lease lost) ends it with that cause.
func (r *Reconciler) reconcile(ctx context.Context, started time.Time, progress func(done, total int)) (Report, error) {
	rep := Report{Started: started}
	items, err := r.claim(ctx, 0)
	if err != nil {
		return rep, err
	}
	rep.Items = len(items)
	var st State
	rep.Plan, st, rep.Expired, err = r.fullPlan(ctx, true)
	if err != nil {
		return rep, err
	}
	rep.Results = r.apply(ctx, rep.Plan, progress)
	summarize(&rep)
	if cause := context.Cause(ctx); cause != nil {
		r.applied(ctx, rep)
		return rep, cause
	}
	err = r.settle(ctx, items, st, rep.Results, nil)
	rep.Finished = r.now()
	r.applied(ctx, rep)
	return rep, err
}

package rbac

import (
	"context"
	"errors"
	"sort"
	"sync"
)

// writer applies changes with Options.Concurrency workers as they are
// submitted; every change gets a result and one failure never stops the
// others. The ARM client's limiter paces the writes themselves.
type writer struct {
	r        *Reconciler
	jobs     chan Result
	wg       sync.WaitGroup
	mu       sync.Mutex
	results  []Result
	total    int
	progress func(done, total int)
}

// startWriter starts the workers; total and progress are for progress
// reports (progress may be nil).
func (r *Reconciler) startWriter(ctx context.Context, total int, progress func(done, total int)) *writer {
	w := &writer{r: r, jobs: make(chan Result), total: total, progress: progress}
	for i := 0; i < r.opts.Concurrency; i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for j := range w.jobs {
				w.do(ctx, j)
			}
		}()
	}
	return w
}

func (w *writer) do(ctx context.Context, j Result) {
	err := w.r.beforeChange(ctx, j.Op, j.Assignment)
	if err == nil {
		err = w.r.change(ctx, j.Op, j.Assignment)
	}
	if err == nil {
		w.r.afterChange(ctx, j.Op, j.Assignment)
	}
	if err != nil {
		j.Error = err.Error()
		var ae *APIError
		if errors.As(err, &ae) {
			j.Status = ae.Status // ARM's answer, so throttling (429) shows in the trail
		}
		w.r.log.Error().Err(err).Str("op", string(j.Op)).Str("scope", j.Assignment.Scope).Str("principal", j.Assignment.PrincipalID).Msg("rbac: change failed")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.results = append(w.results, j)
	if w.progress != nil {
		w.progress(len(w.results), w.total)
	}
}

// submit hands a plan's changes to the workers, deletes first; it returns
// once a worker took the last one.
func (w *writer) submit(p Plan) {
	for _, a := range p.Deletes {
		w.jobs <- Result{Op: OpDelete, Assignment: a}
	}
	for _, a := range p.Renewals {
		w.jobs <- Result{Op: OpRenew, Assignment: a}
	}
	for _, a := range p.Creates {
		w.jobs <- Result{Op: OpCreate, Assignment: a}
	}
}

// close waits for the submitted changes and returns their results, deletes
// first, each kind in assignment order (as the plan lists them).
func (w *writer) close() []Result {
	close(w.jobs)
	w.wg.Wait()
	sort.SliceStable(w.results, func(i, j int) bool {
		a, b := w.results[i], w.results[j]
		if a.Op != b.Op {
			return opOrder[a.Op] < opOrder[b.Op]
		}
		return a.Assignment.key() < b.Assignment.key()
	})
	if w.results == nil {
		return []Result{}
	}
	return w.results
}

var opOrder = map[Op]int{OpDelete: 0, OpRenew: 1, OpCreate: 2}

// readUnit is one ARM list of a targeted drain: the assignments at scope,
// of one principal, or of all of them when principal is "".
type readUnit struct {
	scope, principal string
}

// drained is what a targeted drain planned and did.
type drained struct {
	plan    Plan
	st      State
	results []Result
	// unread are the principals whose assignments could not all be
	// listed (err says why): their items stay pending.
	unread map[string]bool
	err    error
	// expired are the schedules adfscim made that its lists found ended by
	// themselves (expiry.go).
	expired []Assignment
}

// targetedDrain plans and applies the changes for the given users only
// (their current and last known principals) as a pipeline: the ARM lists run
// Options.ReadConcurrency at a time, and each one's part of the plan (one
// principal on one factory, or everyone pending on one factory) is diffed
// and handed to the writers as soon as it is read, so the first person's
// writes start after one round trip rather than after every read. For up to
// Options.TargetedListMax principals it lists per factory and principal (a
// constant number of reads per person); beyond that, each factory whole,
// once (its pages, however many people are pending). The error is one met
// before anything was written; read failures are in drained.err.
func (r *Reconciler) targetedDrain(ctx context.Context, userIDs []string) (drained, error) {
	var out drained
	users := map[string]bool{}
	for _, u := range userIDs {
		users[u] = true
	}
	st, unresolved, err := r.snapshot(ctx, users)
	out.st = st
	if err != nil {
		return out, err
	}
	only := map[string]bool{}
	var order []string // principals in the order of the pending users
	add := func(p string) {
		if p != "" && !only[p] {
			only[p] = true
			order = append(order, p)
		}
	}
	for _, uid := range userIDs {
		add(st.Principals[uid])
		old, err := r.cachedPrincipal(ctx, uid)
		if err != nil {
			return out, err
		}
		add(old)
	}
	out.plan = Plan{Unresolved: unresolved}
	out.results = []Result{}
	if len(only) == 0 {
		out.plan.normalize()
		return out, nil
	}
	desired, problems := Desired(r.opts.Mapping, st)
	out.plan.Problems = problems
	byScope := map[string][]Assignment{}
	for _, d := range desired {
		if only[d.PrincipalID] {
			byScope[d.Scope] = append(byScope[d.Scope], d)
		}
	}
	var units []readUnit
	if len(only) > r.opts.TargetedListMax {
		for _, f := range r.opts.Mapping.Factories {
			units = append(units, readUnit{scope: f})
		}
	} else {
		for _, p := range order {
			for _, f := range r.opts.Mapping.Factories {
				units = append(units, readUnit{scope: f, principal: p})
			}
		}
	}

	// The schedule ledger is read before ARM, so that a schedule a list no
	// longer shows was there when its row was read (expiry.go).
	var led ledger
	if r.opts.Mapping.UsesSchedules() {
		var ps []string
		if len(only) <= r.opts.TargetedListMax {
			ps = order
		}
		var lerr error
		if led, lerr = r.readLedger(ctx, ps); lerr != nil {
			r.log.Error().Err(lerr).Msg("rbac: schedule expiries not checked in this drain")
		}
	}
	subjects := subjectsOf(st)

	w := r.startWriter(ctx, 0, nil)
	var (
		mu   sync.Mutex // guards out.plan, out.unread, out.expired, errs
		errs []error
	)
	out.unread = map[string]bool{}
	next := make(chan readUnit)
	var wg sync.WaitGroup
	for i := 0; i < min(r.opts.ReadConcurrency, len(units)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range next {
				at := r.now()
				actual, scheds, err := r.list(ctx, u.scope, u.principal, false)
				unitOnly := only
				if u.principal != "" {
					unitOnly = map[string]bool{u.principal: true}
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					for p := range unitOnly {
						out.unread[p] = true
					}
					mu.Unlock()
					continue
				}
				var expired []Assignment
				if scheds && led != nil {
					expired = r.observe(ctx, led, actual, u.scope, unitOnly, at, subjects)
				}
				p := Diff(r.opts.Mapping, byScope[normScope(u.scope)], actual, unitOnly)
				p = r.budget.admit(ctx, p, false)
				mu.Lock()
				out.plan.merge(p)
				out.expired = append(out.expired, expired...)
				mu.Unlock()
				w.submit(p)
			}
		}()
	}
	for _, u := range units {
		next <- u
	}
	close(next)
	wg.Wait()
	out.results = w.close()
	out.err = errors.Join(errs...)
	sortAssignments(out.plan.Creates)
	sortAssignments(out.plan.Deletes)
	sortAssignments(out.plan.Renewals)
	sortAssignments(out.plan.Held)
	sortAssignments(out.expired)
	out.plan.Budget = mergeBudget(out.plan.Budget)
	sort.Slice(out.plan.Drift, func(i, j int) bool { return out.plan.Drift[i].key() < out.plan.Drift[j].key() })
	out.plan.normalize()
	return out, nil
}

// merge adds the changes and counts of q, a plan over a disjoint part of the
// assignments (another factory or principal), to p.
func (p *Plan) merge(q Plan) {
	p.Creates = append(p.Creates, q.Creates...)
	p.Deletes = append(p.Deletes, q.Deletes...)
	p.Renewals = append(p.Renewals, q.Renewals...)
	p.Held = append(p.Held, q.Held...)
	p.Budget = append(p.Budget, q.Budget...)
	p.Drift = append(p.Drift, q.Drift...)
	p.Desired += q.Desired
	p.Unchanged += q.Unchanged
}

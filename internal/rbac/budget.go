package rbac

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// AssignmentLimit is Azure's limit of role assignments per subscription:
// every scope in it together, whoever made them; eligible ones do not count,
// and it cannot be raised ("Troubleshoot Azure RBAC limits").
const AssignmentLimit = 5000

// DefaultBudgetShare is the share of AssignmentLimit adfscim's creates stop
// short of, leaving the rest to everyone else in the subscription.
const DefaultBudgetShare = 0.9

// BudgetLine is how one subscription's role assignment limit stands for a
// plan: what it already holds, what the plan adds and what it kept back.
type BudgetLine struct {
	Subscription string `json:"subscription"`
	// Line is the most assignments adfscim lets the subscription reach.
	Line int `json:"line"`
	// Existing is the count listed from ARM (before the plan), -1 when it
	// could not be read.
	Existing int `json:"existing"`
	// Planned are the creates admitted; Held those kept back.
	Planned int `json:"planned"`
	Held    int `json:"held"`
	// Error says why the count could not be read: then every create in the
	// subscription is held.
	Error string `json:"error,omitempty"`
}

// Over reports whether the line held creates back.
func (b BudgetLine) Over() bool { return b.Held > 0 }

func (p Plan) overBudget() bool {
	for _, b := range p.Budget {
		if b.Over() {
			return true
		}
	}
	return false
}

// budget keeps the count of each subscription's role assignments: the full
// reconcile counts afresh (one list of the subscription, its pages), the fast
// path trusts a count for Options.BudgetRefresh and adds what it admitted
// since. The count lives in this process: other instances and other tools
// add to it meanwhile, which the share left free absorbs.
type budget struct {
	r    *Reconciler
	mu   sync.Mutex // guards subs and last
	subs map[string]*subCount
	last map[string]BudgetLine // the latest line of each subscription
}

type subCount struct {
	mu  sync.Mutex // held while counting, so one count serves everyone waiting
	n   int        // assignments counted plus admitted since
	at  time.Time  // when counted (zero: never)
	err error
}

func newBudget(r *Reconciler) *budget {
	return &budget{r: r, subs: map[string]*subCount{}, last: map[string]BudgetLine{}}
}

// Budget returns each subscription's budget line as the last plan that
// created there left it, for the report's banner.
func (r *Reconciler) Budget() []BudgetLine {
	r.budget.mu.Lock()
	defer r.budget.mu.Unlock()
	out := make([]BudgetLine, 0, len(r.budget.last))
	for _, l := range r.budget.last {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subscription < out[j].Subscription })
	return out
}

func (b *budget) share() float64 {
	switch s := b.r.opts.BudgetShare; {
	case s == 0:
		return DefaultBudgetShare
	case s > 1:
		return 1
	default:
		return s
	}
}

// Line is the most role assignments per subscription creates go up to.
func (b *budget) line() int { return int(b.share() * AssignmentLimit) }

func (b *budget) sub(id string) *subCount {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.subs[id]
	if s == nil {
		s = &subCount{}
		b.subs[id] = s
	}
	return s
}

// admit keeps back the creates of p that would take a subscription past the
// line (they go to p.Held) and records each subscription's line in
// p.Budget. fresh counts every subscription again (the full reconcile and
// the dry run); otherwise a count younger than BudgetRefresh serves. An ARM
// client that cannot count (a test double) is not limited; a count that
// fails holds the subscription's creates: better no new access than running
// into the wall half-way or taking the room others need.
func (b *budget) admit(ctx context.Context, p Plan, fresh bool) Plan {
	counter, ok := b.r.opts.ARM.(AssignmentCounter)
	if b.r.opts.BudgetShare < 0 || !ok || len(p.Creates) == 0 {
		return p
	}
	bySub := map[string][]int{}
	var subs []string
	for i, a := range p.Creates {
		if !a.Kind.Counts() {
			continue
		}
		s := subscriptionOf(a.Scope)
		if _, seen := bySub[s]; !seen {
			subs = append(subs, s)
		}
		bySub[s] = append(bySub[s], i)
	}
	if len(subs) == 0 {
		return p
	}
	sort.Strings(subs)
	held := map[int]bool{}
	refresh := b.r.opts.BudgetRefresh
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	for _, id := range subs {
		sc := b.sub(id)
		sc.mu.Lock()
		if fresh || sc.at.IsZero() || b.r.now().Sub(sc.at) > refresh || sc.err != nil {
			n, err := counter.CountAssignments(ctx, id)
			sc.n, sc.err, sc.at = n, err, b.r.now()
		}
		line := BudgetLine{Subscription: id, Line: b.line(), Existing: sc.n}
		if sc.err != nil {
			line.Existing, line.Error = -1, sc.err.Error()
		}
		for _, i := range bySub[id] {
			if sc.err != nil || sc.n+1 > line.Line {
				held[i] = true
				line.Held++
				continue
			}
			sc.n++
			line.Planned++
		}
		sc.mu.Unlock()
		b.mu.Lock()
		b.last[id] = line
		b.mu.Unlock()
		p.Budget = append(p.Budget, line)
		if line.Over() {
			b.r.log.Error().Str("subscription", id).Int("existing", line.Existing).Int("line", line.Line).
				Int("planned", line.Planned).Int("held", line.Held).Str("error", line.Error).
				Msg("rbac: role assignment budget reached: creates held back (use group mode or eligible bindings)")
		}
	}
	if len(held) == 0 {
		return p
	}
	creates := p.Creates[:0:0]
	for i, a := range p.Creates {
		if held[i] {
			p.Held = append(p.Held, a)
		} else {
			creates = append(creates, a)
		}
	}
	p.Creates = creates
	return p
}

// mergeBudget folds the lines of one subscription (a targeted drain makes
// one per factory read) into one.
func mergeBudget(lines []BudgetLine) []BudgetLine {
	if len(lines) < 2 {
		return lines
	}
	by := map[string]BudgetLine{}
	for _, l := range lines {
		m, seen := by[l.Subscription]
		if !seen {
			by[l.Subscription] = l
			continue
		}
		m.Planned += l.Planned
		m.Held += l.Held
		if l.Error != "" {
			m.Error, m.Existing = l.Error, -1
		}
		by[l.Subscription] = m
	}
	out := make([]BudgetLine, 0, len(by))
	for _, l := range by {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subscription < out[j].Subscription })
	return out
}

// String is the line as the plan summary and the log show it.
func (b BudgetLine) String() string {
	if b.Error != "" {
		return fmt.Sprintf("subscription %s: assignment count unknown (%s): %d creates held", b.Subscription, b.Error, b.Held)
	}
	s := fmt.Sprintf("subscription %s: %d of %d role assignments (line %d of Azure's %d), %d planned", b.Subscription, b.Existing, AssignmentLimit, b.Line, AssignmentLimit, b.Planned)
	if b.Held > 0 {
		s += fmt.Sprintf(", %d held back", b.Held)
	}
	return s
}

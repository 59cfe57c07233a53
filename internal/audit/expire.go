package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// ExpireResult says what Expire removed, and why nothing when it removed
// nothing (String).
type ExpireResult struct {
	// Before is the first kept day (YYYYMMDD): the day asked for, or the
	// open day when that was later.
	Before string
	// Asked is the day of the time Expire was asked to expire before.
	Asked string
	// Open is the day being written, which is never removed.
	Open string
	// First is the oldest day the trail starts at after the run.
	First string
	// Days lists the removed day partitions, oldest first.
	Days []string
	// Rows counts the rows deleted.
	Rows int
}

// String says in one sentence what the run did, or why it removed nothing.
func (r ExpireResult) String() string {
	kept := ""
	if r.Asked > r.Open {
		kept = fmt.Sprintf(" (the day being written, %s, is never removed)", r.Open)
	}
	if len(r.Days) > 0 {
		days := fmt.Sprintf("%d days, %s to %s", len(r.Days), r.Days[0], r.Days[len(r.Days)-1])
		if len(r.Days) == 1 {
			days = "1 day, " + r.Days[0]
		}
		return fmt.Sprintf("removed %s (%d rows); the trail now starts at %s%s", days, r.Rows, r.First, kept)
	}
	var why string
	switch {
	case r.First >= r.Open && r.Asked > r.Open:
		why = fmt.Sprintf("the trail holds only the day being written, %s, which is never removed", r.Open)
	case r.First >= r.Before:
		why = fmt.Sprintf("the trail starts at %s, so there is no day before %s to remove", r.First, r.Before)
	default:
		why = fmt.Sprintf("no record is kept before %s", r.Before) + kept
	}
	return "removed nothing: " + why
}

// Expire removes the whole days before the UTC day of before, oldest first,
// and records that it did: it first appends an audit.expire record naming the
// days (Target.ID is the first kept day), then moves the trail's start
// forward, then deletes the rows. Verify trusts the oldest kept day's genesis
// because of that record. The open day is never removed. Expire is safe to
// re-run after an interruption: days before the trail's start are leftovers
// that Verify skips and the next Expire finishes deleting.
//
// The record names the actor "retention"; ExpireAs names another.
func (l *Log) Expire(ctx context.Context, before time.Time) (ExpireResult, error) {
	return l.ExpireAs(ctx, before, "retention")
}

// ExpireAs is Expire recorded under actor (an operator running the CLI).
func (l *Log) ExpireAs(ctx context.Context, before time.Time, actor string) (ExpireResult, error) {
	h, err := l.openHead(ctx)
	if err != nil {
		return ExpireResult{}, err
	}
	cut := min(dayOf(before), h.data.Day)
	m, err := getMeta(ctx, l.s)
	if err != nil {
		return ExpireResult{}, err
	}
	res := ExpireResult{Before: cut, Asked: dayOf(before), Open: h.data.Day, First: m.First}
	// Leftovers of an interrupted run lie before m.First; look a year back
	// for them.
	t, _ := time.Parse(dayLayout, m.First)
	start := t.AddDate(-1, 0, 0).Format(dayLayout)
	keys := map[string][]string{}
	for day := start; day < cut; day = nextDay(day) {
		rows, err := l.s.List(ctx, Table, store.Query{PartitionKey: day, KeysOnly: true})
		if err != nil {
			return res, fmt.Errorf("audit: expire: list %s: %w", day, err)
		}
		if len(rows) == 0 {
			continue
		}
		res.Days = append(res.Days, day)
		for _, e := range rows {
			keys[day] = append(keys[day], e.RowKey)
		}
	}
	if len(res.Days) == 0 {
		return res, nil
	}
	if cut > m.First {
		rec := Record{
			Actor:   actor,
			Action:  ActionAuditExpire,
			Target:  Target{Type: "Audit", ID: cut, Display: "records before " + cut},
			Changes: []Change{{Op: "remove", Path: "days", Value: res.Days}},
			Outcome: Outcome{Success: true},
		}
		if err := l.Append(ctx, rec); err != nil {
			return res, err
		}
		if err := l.updateMeta(ctx, func(m *metaData) bool {
			if m.First >= cut {
				return false
			}
			m.First = cut
			return true
		}); err != nil {
			return res, err
		}
		res.First = cut
	}
	for _, day := range res.Days {
		rks := keys[day]
		// Records first, the head last, so that a partly deleted day
		// still has its head.
		slices.Reverse(rks)
		for len(rks) > 0 {
			n := min(len(rks), store.MaxBatchOps)
			ops := make([]store.Op, n)
			for i, rk := range rks[:n] {
				ops[i] = store.Op{Kind: store.Delete, Entity: store.Entity{PartitionKey: day, RowKey: rk}}
			}
			if _, err := l.s.Batch(ctx, Table, ops); err != nil {
				return res, fmt.Errorf("audit: expire %s: %w", day, err)
			}
			res.Rows += n
			rks = rks[n:]
		}
	}
	return res, nil
}

// openHead returns the head of the open day, starting a new day if needed.
func (l *Log) openHead(ctx context.Context) (*cachedHead, error) {
	l.sem <- struct{}{}
	defer func() { <-l.sem }()
	return l.currentHead(ctx)
}

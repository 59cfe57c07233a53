package report_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
)

// TestReportShowsKinds: the report says who holds a role eligibly (and
// who activated it, when) or until when, finds a schedule someone else made
// as drift, and shows a budget that held creates back in its banner.
func TestReportShowsKinds(t *testing.T) {
	m := `{"factories":{"prod":"` + prodID + `","dev":"` + devID + `"},"bindings":[
		{"group":"ADF Oncall","role":"Data Factory Contributor","factories":["prod"],"kind":"eligible"},
		{"group":"ADF Readers","role":"Reader","factories":["dev"],"maxDuration":"720h"}]}`
	w := newWorldOpts(t, worldOptions{mapping: m, simClock: true})
	sim := w.sim
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createGroup("ADF Oncall", "alice@contoso.com")
	w.createGroup("ADF Readers", "alice@contoso.com")
	if rep, err := w.svc.Reconcile(w.ctx, nil); err != nil || rep.Created != 2 {
		t.Fatalf("reconcile: %d created, %v", rep.Created, err)
	}
	contributor := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/673868aa-7521-48a0-acc6-0f60742d39f5"
	reader := "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	w.at("10:00")
	if err := sim.Activate(w.ctx, prodID, aliceOID, contributor, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := sim.PutSchedule(w.ctx, "timeBound", devID, erinOID, reader, w.clock.Now().Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}
	b, err := report.New(report.Options{
		Mapping: w.mapping, Directory: rbac.FromDirectory(w.dir), Resolver: rbac.Resolver{}, ARM: w.rec, Audit: w.trail,
		Verify: func(ctx context.Context) (audit.Result, error) { return audit.Result{}, nil },
		Budget: func() []rbac.BudgetLine {
			return []rbac.BudgetLine{{Subscription: sub, Line: 4500, Existing: 4490, Planned: 10, Held: 90}}
		},
		Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Build(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var elig, tb, foreign *report.Access
	for i, a := range rep.Access {
		switch {
		case a.PrincipalID == erinOID:
			foreign = &rep.Access[i]
		case a.Kind == "eligible":
			elig = &rep.Access[i]
		case a.Kind == "timeBound":
			tb = &rep.Access[i]
		}
	}
	switch {
	case elig == nil || elig.Status != report.StatusGranted || elig.Activation == nil || !elig.Activation.Start.Equal(w.clock.Now()) ||
		!strings.Contains(elig.Grant, "eligible, activated 2026-03-02 10:00Z until 2026-03-02 12:00Z"):
		t.Errorf("eligible row %+v", elig)
	case tb == nil || tb.Status != report.StatusGranted || tb.EndsAt == nil || !strings.HasPrefix(tb.Grant, "active until 2026-04-01 09:00Z"):
		t.Errorf("time-bound row %+v", tb)
	case foreign == nil || foreign.Status != report.StatusShadow || foreign.Kind != "timeBound":
		t.Errorf("foreign schedule row %+v", foreign)
	}
	var html bytes.Buffer
	if err := report.WriteHTML(&html, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "Role assignment budget:</strong> subscription "+sub+": 4490 of 5000") {
		t.Errorf("no budget banner in the HTML report")
	}
}

// timeBoundWorld is a world whose mapping gives ADF Readers Reader on the
// dev factory for d at a time, on the simulated ARM with the world's clock.
func timeBoundWorld(t *testing.T, d string) *world {
	t.Helper()
	return newWorldOpts(t, worldOptions{simClock: true, mapping: `{"factories":{"dev":"` + devID + `"},"bindings":[
		{"group":"ADF Readers","role":"Reader","factories":["dev"],"maxDuration":"` + d + `"}]}`})
}

// TestReportShowsExpiredSchedule: a time-bound assignment that ended by
// itself (adfscim did not run for longer than its 30 days) shows among the
// report's recent changes as rbac.expired, named like every other role
// assignment change, and the assignment made again afterwards dates from
// its new rbac.assign.
func TestReportShowsExpiredSchedule(t *testing.T) {
	w := timeBoundWorld(t, "720h")
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createGroup("ADF Readers", "alice@contoso.com")
	w.reconcile()
	ended := w.clock.Now().Add(720 * time.Hour)
	again := ended.Add(2 * time.Hour)
	w.clock.Set(again)
	w.reconcile()
	rep := w.report()
	var expired, assigned *report.Event
	for i, e := range rep.Recent {
		switch {
		case e.Action == audit.ActionRBACExpired && expired == nil:
			expired = &rep.Recent[i]
		case e.Action == audit.ActionRBACAssign && assigned == nil:
			assigned = &rep.Recent[i]
		}
	}
	switch {
	case expired == nil:
		t.Fatalf("no rbac.expired among the recent changes: %+v", rep.Recent)
	case expired.Target != "Reader on adf-dev for alice@contoso.com" || !expired.Success || expired.Actor != "reconciler" ||
		!strings.Contains(expired.Detail, "ended by itself at its end time "+ended.Format(time.RFC3339)):
		t.Errorf("expired event %+v", expired)
	case assigned == nil || assigned.Seq < expired.Seq:
		t.Errorf("the assignment made again is not recorded after the expiry: %+v", assigned)
	}
	if len(rep.Access) != 1 || rep.Access[0].Since == nil || !rep.Access[0].Since.Equal(again) {
		t.Errorf("access rows %+v, want one since %v", rep.Access, again)
	}
	var html bytes.Buffer
	if err := report.WriteHTML(&html, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "rbac.expired") {
		t.Errorf("the HTML report's recent changes do not show the expiry")
	}
}

// TestDeprovisioningEndsAtExpiry: a person deactivated while adfscim is not
// running loses a time-bound role when it ends by itself; the
// deprovisioning evidence times the loss to the schedule's end, confirmed
// by the rbac.expired record, instead of leaving it unconfirmed.
func TestDeprovisioningEndsAtExpiry(t *testing.T) {
	w := timeBoundWorld(t, "1h")
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createGroup("ADF Readers", "alice@contoso.com")
	w.reconcile()
	w.at("09:30")
	w.deactivate("alice@contoso.com")
	requested := w.lastSeq()
	w.at("11:00")
	w.reconcile()
	rep := w.report()
	rvs := rep.Deprovisioning.Revocations
	if len(rvs) != 1 {
		t.Fatalf("revocations %+v, want alice's one", rvs)
	}
	rv := rvs[0]
	if rv.Status != report.RevokeDone || rv.RequestSeq != requested || rv.ConfirmSeq <= requested || rv.Confirmed == nil ||
		!rv.Confirmed.Equal(w.at("10:00")) || rv.ElapsedSeconds != 1800 {
		t.Errorf("revocation %+v, want done at the schedule's end 10:00 after 30 minutes", rv)
	}
}

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

package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
)

// More people of the deprovisioning story.
const (
	ginaOID = "91a00000-0000-4000-8000-000000000007"
)

// throttledWorld is a world whose ARM answers every delete with 429 while
// throttled is set, as ARM does when a subscription's write budget is spent.
func throttledWorld(t *testing.T) (*world, *atomic.Bool) {
	t.Helper()
	var throttled atomic.Bool
	w := newWorldWith(t, func(srv *fake.RoleAssignmentsServer) {
		del := srv.Delete
		srv.Delete = func(ctx context.Context, scope, name string, o *armauthorization.RoleAssignmentsClientDeleteOptions) (azfake.Responder[armauthorization.RoleAssignmentsClientDeleteResponse], azfake.ErrorResponder) {
			if throttled.Load() {
				var errResp azfake.ErrorResponder
				errResp.SetResponseError(http.StatusTooManyRequests, "TooManyRequests")
				return azfake.Responder[armauthorization.RoleAssignmentsClientDeleteResponse]{}, errResp
			}
			return del(ctx, scope, name, o)
		}
	})
	return w, &throttled
}

// lastSeq is the sequence number of the newest record.
func (w *world) lastSeq() uint64 {
	w.t.Helper()
	res, err := audit.Verify(w.ctx, w.st, time.Time{}, time.Time{})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.LastSeq
}

func (w *world) deleteUser(user string) {
	w.t.Helper()
	if _, err := w.dir.Delete(w.ctx, "User", w.ids[user], "", nil); err != nil {
		w.t.Fatal(err)
	}
	err := w.trail.Append(w.ctx, audit.Record{Actor: "entra-prod", Action: audit.ActionUserDelete,
		Target: audit.Target{Type: "User", ID: w.ids[user], Display: user}, Outcome: audit.Outcome{Success: true, Status: 204}})
	if err != nil {
		w.t.Fatal(err)
	}
}

// start records the service starting, as serve does.
func (w *world) start() {
	w.t.Helper()
	err := w.trail.Append(w.ctx, audit.Record{Actor: "system", Action: audit.ActionConfigLoad,
		Target: audit.Target{Type: "Config", ID: "mapping"}, Outcome: audit.Outcome{Success: true}})
	if err != nil {
		w.t.Fatal(err)
	}
}

// reconcileAnyway runs a full reconcile whose changes may fail (a
// throttling ARM): the failures are in the trail, not an error here.
func (w *world) reconcileAnyway() {
	w.t.Helper()
	if _, err := w.svc.Reconcile(w.ctx, nil); err != nil {
		w.t.Logf("reconcile: %v", err)
	}
}

// deprovStory plays joiners and leavers: bob leaves a group and loses his
// role within minutes; carol is deactivated while ARM throttles, and her
// roles go only when it stops; frank is deleted while the service is down;
// gina leaves a group and nothing has removed her roles yet; alice leaves
// and rejoins before any reconcile, which is no loss at all. It returns
// the world and the sequence numbers of the requests and confirmations.
func deprovStory(t *testing.T) (*world, map[string]uint64) {
	w, throttled := throttledWorld(t)
	seq := map[string]uint64{}
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createUser("bob@contoso.com", bobOID)
	w.createUser("carol@contoso.com", carolOID)
	w.createUser("frank@contoso.com", frankOID)
	w.createUser("gina@contoso.com", ginaOID)
	w.createGroup("ADF Contributors", "alice@contoso.com", "bob@contoso.com")
	w.createGroup("ADF Readers", "carol@contoso.com", "frank@contoso.com", "gina@contoso.com")
	w.at("09:05")
	w.reconcile()
	w.at("09:30") // a joiner: not a loss
	w.join("ADF Readers", "alice@contoso.com")
	w.at("09:31")
	w.reconcile()

	w.at("10:00") // bob leaves: revoked two minutes later
	w.leave("ADF Contributors", "bob@contoso.com")
	seq["bob"] = w.lastSeq()
	w.at("10:02")
	w.reconcile()
	seq["bob done"] = w.lastSeq()

	w.at("11:00") // carol is deactivated; ARM throttles every delete for 75 minutes
	w.deactivate("carol@contoso.com")
	seq["carol"] = w.lastSeq()
	throttled.Store(true)
	w.at("11:01")
	w.reconcileAnyway()
	seq["carol 429 a"] = w.lastSeq()
	w.at("11:30")
	w.reconcileAnyway()
	seq["carol 429 b"] = w.lastSeq()
	throttled.Store(false)
	w.at("12:15")
	w.reconcile()
	seq["carol done"] = w.lastSeq()

	w.at("13:00") // frank is deleted; the service is down until 15:58
	w.deleteUser("frank@contoso.com")
	seq["frank"] = w.lastSeq()
	w.at("15:58")
	w.start()
	seq["start"] = w.lastSeq()
	w.at("16:00")
	w.reconcile()
	seq["frank done"] = w.lastSeq()

	w.at("16:30") // gina leaves; no reconcile has run since
	w.leave("ADF Readers", "gina@contoso.com")
	seq["gina"] = w.lastSeq()
	w.at("16:40") // alice leaves and rejoins before any reconcile
	w.leave("ADF Contributors", "alice@contoso.com")
	w.at("16:41")
	w.join("ADF Contributors", "alice@contoso.com")
	w.at("17:20")
	return w, seq
}

// revRow is what an auditor checks of a revocation.
type revRow struct {
	Who, Role, Factory, Status, Reason string
	Req                                uint64
	Requested                          string
	Confirm                            uint64
	Confirmed, Elapsed                 string
	Breach                             bool
	Cause                              string
}

func TestDeprovisioningStory(t *testing.T) {
	w, seq := deprovStory(t)
	rep := w.report()
	d := rep.Deprovisioning

	// carol's four failed deletes: two per reconcile while throttled.
	throttledSeqs := []uint64{seq["carol 429 a"] - 1, seq["carol 429 a"], seq["carol 429 b"] - 1, seq["carol 429 b"]}
	want := []revRow{
		{"bob@contoso.com", "Data Factory Contributor", "adf-prod", report.RevokeDone, "removed from group ADF Contributors",
			seq["bob"], "10:00", seq["bob done"], "10:02", "2m 00s", false, ""},
		{"carol@contoso.com", "Reader", "adf-dev", report.RevokeDone, "deactivated",
			seq["carol"], "11:00", 0, "12:15", "1h 15m", true, "ARM throttling: ARM answered 2 deletes with 429 Too Many Requests"},
		{"carol@contoso.com", "Reader", "adf-prod", report.RevokeDone, "deactivated",
			seq["carol"], "11:00", 0, "12:15", "1h 15m", true, "ARM throttling: ARM answered 2 deletes with 429 Too Many Requests"},
		{"frank@contoso.com", "Reader", "adf-dev", report.RevokeDone, "user deleted",
			seq["frank"], "13:00", 0, "16:00", "3h 00m", true,
			fmt.Sprintf("service down: no audit record at all for 2h 58m, between seq %d (2026-03-02 13:00) and seq %d (2026-03-02 15:58); the service started again at seq %d", seq["frank"], seq["start"], seq["start"])},
		{"frank@contoso.com", "Reader", "adf-prod", report.RevokeDone, "user deleted",
			seq["frank"], "13:00", 0, "16:00", "3h 00m", true,
			fmt.Sprintf("service down: no audit record at all for 2h 58m, between seq %d (2026-03-02 13:00) and seq %d (2026-03-02 15:58); the service started again at seq %d", seq["frank"], seq["start"], seq["start"])},
		{"gina@contoso.com", "Reader", "adf-dev", report.RevokeOpen, "removed from group ADF Readers",
			seq["gina"], "16:30", 0, "", "50m 00s", false, ""},
		{"gina@contoso.com", "Reader", "adf-prod", report.RevokeOpen, "removed from group ADF Readers",
			seq["gina"], "16:30", 0, "", "50m 00s", false, ""},
	}
	var got []revRow
	for _, rv := range d.Revocations {
		r := revRow{Who: rv.UserName, Role: rv.Role, Factory: rv.Factory, Status: rv.Status, Reason: rv.Reason, Req: rv.RequestSeq,
			Requested: rv.Requested.Format("15:04"), Elapsed: rv.Elapsed, Breach: rv.Breach, Cause: rv.Cause}
		if rv.Confirmed != nil {
			r.Confirmed = rv.Confirmed.Format("15:04")
			r.Confirm = rv.ConfirmSeq
		}
		got = append(got, r)
	}
	if len(got) != len(want) {
		t.Fatalf("revocations:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if want[i].Confirm == 0 && got[i].Confirm != 0 {
			// Deletes of one reconcile land in the order ARM answered them:
			// check only that the confirmation is within the reconcile's records.
			done := seq[strings.SplitN(want[i].Who, "@", 2)[0]+" done"]
			if got[i].Confirm > done || got[i].Confirm < done-1 {
				t.Errorf("row %d confirmed by seq %d, want one of the reconcile's records %d-%d", i, got[i].Confirm, done-1, done)
			}
			got[i].Confirm = 0
		}
		if got[i] != want[i] {
			t.Errorf("revocation %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// carol's breach rests on her own failed deletes, each named.
	for _, rv := range d.Revocations[1:3] {
		if len(rv.Evidence) != 2 {
			t.Errorf("carol's %s breach rests on records %v, want her two throttled deletes of %v", rv.Factory, rv.Evidence, throttledSeqs)
		}
		for _, s := range rv.Evidence {
			if !containsSeq(throttledSeqs, s) {
				t.Errorf("carol's %s breach cites record %d, not one of the throttled deletes %v", rv.Factory, s, throttledSeqs)
			}
		}
	}
	for _, s := range throttledSeqs {
		page, err := w.trail.Query(w.ctx, audit.Filter{Action: audit.ActionRBACUnassign})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range page.Records {
			if r.Seq == s {
				found = !r.Outcome.Success && r.Outcome.Status == http.StatusTooManyRequests
			}
		}
		if !found {
			t.Errorf("record %d is not a failed rbac.unassign answered 429", s)
		}
	}

	// One month; done elapsed times 2m, 75m, 75m, 180m, 180m: nearest-rank
	// median 75m, p95 180m, worst 180m (frank's request).
	wantPeriod := report.PeriodStats{Period: "2026-03", Count: 5, Median: 4500, P95: 10800, Worst: 10800,
		MedianHuman: "1h 15m", P95Human: "3h 00m", WorstHuman: "3h 00m", WorstSeq: seq["frank"], Breaches: 4, Open: 2}
	if len(d.Periods) != 1 || d.Periods[0] != wantPeriod {
		t.Errorf("periods = %+v, want %+v", d.Periods, wantPeriod)
	}
	if d.Done != 5 || d.Open != 2 || d.Breaches != 4 || d.Target != "1h 00m" || d.Unattributed != 0 {
		t.Errorf("totals: done %d open %d breaches %d target %q unattributed %d; want 5, 2, 4, 1h 00m, 0", d.Done, d.Open, d.Breaches, d.Target, d.Unattributed)
	}

	// The CSV carries the same rows for sampling.
	var b bytes.Buffer
	if err := report.WriteTable(&b, rep, report.TableDeprovisioning); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(report.DeprovisioningCSVHeader, ",") || len(rows) != len(want)+1 {
		t.Fatalf("CSV: header %q and %d rows, want %d", rows[0], len(rows)-1, len(want))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, r := range rows[1:] {
		rv := d.Revocations[i]
		if r[col["user_name"]] != want[i].Who || r[col["request_seq"]] != fmt.Sprint(want[i].Req) ||
			r[col["requested"]] != "2026-03-02T"+want[i].Requested+":00Z" || r[col["breach"]] != fmt.Sprint(want[i].Breach) ||
			r[col["cause"]] != want[i].Cause || r[col["elapsed_seconds"]] != fmt.Sprint(rv.ElapsedSeconds) ||
			r[col["status"]] != want[i].Status {
			t.Errorf("CSV row %d = %q, want %+v", i, r, want[i])
		}
		if want[i].Confirmed != "" && (r[col["confirmed"]] != "2026-03-02T"+want[i].Confirmed+":00Z" || r[col["confirm_seq"]] != fmt.Sprint(rv.ConfirmSeq)) {
			t.Errorf("CSV row %d confirmation %q seq %q, want %s seq %d", i, r[col["confirmed"]], r[col["confirm_seq"]], want[i].Confirmed, rv.ConfirmSeq)
		}
	}
}

// TestDeprovisioningTarget: a longer target turns the breaches into
// revocations within it; a delay nothing in the trail explains is
// "unknown", not a guess.
func TestDeprovisioningTarget(t *testing.T) {
	w, _ := deprovStory(t)
	b, err := report.New(report.Options{Mapping: w.mapping, Directory: rbac.FromDirectory(w.dir), Resolver: rbac.Resolver{}, ARM: w.rec, Audit: w.trail,
		RevokeTarget: 4 * time.Hour, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Build(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := rep.Deprovisioning; d.Breaches != 0 || d.Target != "4h 00m" {
		t.Errorf("with a 4h target: %d breaches (target %q), want none", d.Breaches, d.Target)
	}

	// dave leaves while the IdP keeps writing every few minutes and the
	// reconciler does not run: nothing in the trail explains the delay.
	w2 := newWorld(t)
	w2.at("09:00")
	w2.createUser("dave@contoso.com", bobOID)
	w2.createUser("erin@contoso.com", carolOID)
	w2.createGroup("ADF Readers", "dave@contoso.com")
	w2.reconcile()
	w2.at("10:00")
	w2.leave("ADF Readers", "dave@contoso.com")
	for m := 4; m < 90; m += 4 {
		w2.at(fmt.Sprintf("%02d:%02d", 10+m/60, m%60))
		w2.rename("erin@contoso.com", fmt.Sprintf("Erin %d", m))
	}
	w2.at("11:30")
	w2.reconcile()
	rep = w2.report()
	if d := rep.Deprovisioning; len(d.Revocations) != 2 || !d.Revocations[0].Breach || !strings.HasPrefix(d.Revocations[0].Cause, report.CauseUnknown+":") {
		t.Errorf("dave's late revocation: %+v, want breaches of unknown cause", d.Revocations)
	}
}

func containsSeq(s []uint64, x uint64) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestDeprovisioningInBrowser loads the story's report in headless
// chromium and reads the deprovisioning table as a reader sees it.
func TestDeprovisioningInBrowser(t *testing.T) {
	w, seq := deprovStory(t)
	rep := w.report()
	path := filepath.Join(t.TempDir(), "report.html")
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t)
	b.open("file://" + path)

	var rows [][]string
	b.eval(`Array.from(document.querySelectorAll('#deprov tbody tr')).map(function (r) {
	  return Array.from(r.cells).map(function (c) { return c.innerText.replace(/\s+/g, ' ').trim(); }); })`, &rows)
	if len(rows) != len(rep.Deprovisioning.Revocations) {
		t.Fatalf("the page shows %d revocations, want %d: %q", len(rows), len(rep.Deprovisioning.Revocations), rows)
	}
	want := []struct{ who, requested, confirmed, elapsed, breach string }{
		{"bob@contoso.com", fmt.Sprintf("2026-03-02 10:00:00 UTC seq %d", seq["bob"]), "2026-03-02 10:02:00 UTC", "2m 00s", "no"},
		{"carol@contoso.com", fmt.Sprintf("2026-03-02 11:00:00 UTC seq %d", seq["carol"]), "2026-03-02 12:15:00 UTC", "1h 15m", "breach: ARM throttling"},
		{"carol@contoso.com", fmt.Sprintf("2026-03-02 11:00:00 UTC seq %d", seq["carol"]), "2026-03-02 12:15:00 UTC", "1h 15m", "breach: ARM throttling"},
		{"frank@contoso.com", fmt.Sprintf("2026-03-02 13:00:00 UTC seq %d", seq["frank"]), "2026-03-02 16:00:00 UTC", "3h 00m", "breach: service down"},
		{"frank@contoso.com", fmt.Sprintf("2026-03-02 13:00:00 UTC seq %d", seq["frank"]), "2026-03-02 16:00:00 UTC", "3h 00m", "breach: service down"},
		{"gina@contoso.com", fmt.Sprintf("2026-03-02 16:30:00 UTC seq %d", seq["gina"]), "open", "50m 00s", "no"},
		{"gina@contoso.com", fmt.Sprintf("2026-03-02 16:30:00 UTC seq %d", seq["gina"]), "open", "50m 00s", "no"},
	}
	for i, r := range rows {
		if !strings.HasPrefix(r[0], want[i].who) || r[4] != want[i].requested || !strings.HasPrefix(r[5], want[i].confirmed) ||
			r[6] != want[i].elapsed || !strings.HasPrefix(r[7], want[i].breach) {
			t.Errorf("row %d reads %q, want %+v", i, r, want[i])
		}
	}
	var period []string
	b.eval(`Array.from(document.querySelectorAll('#deprov-periods tbody tr')[0].cells).map(function (c) { return c.innerText.trim(); })`, &period)
	wantPeriod := []string{"2026-03", "5", "1h 15m", "3h 00m", fmt.Sprintf("3h 00m (request seq %d)", seq["frank"]), "4", "2"}
	if fmt.Sprint(period) != fmt.Sprint(wantPeriod) {
		t.Errorf("the month's line reads %q, want %q", period, wantPeriod)
	}
	var broken []string
	b.eval(brokenWords, &broken)
	if len(broken) > 0 {
		t.Errorf("words broken over two lines: %q", broken)
	}
}

package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/report"
)

// reviewWorld is the service configured with reportMapping, with grace and
// henry holding Reader on adf-prod through "ADF Readers".
type reviewWorld struct {
	t       *testing.T
	e       *env
	trail   *audit.Log
	ids     map[string]string
	groupID string
}

func newReviewWorld(t *testing.T) *reviewWorld {
	t.Helper()
	e := newEnvWith(t, envOptions{mapping: reportMapping})
	w := &reviewWorld{t: t, e: e, trail: e.app.Trail, ids: map[string]string{}}
	for name, oid := range map[string]string{"grace@contoso.com": "96ace000-0000-4000-8000-000000000007", "henry@contoso.com": "4e2a0000-0000-4000-8000-000000000008"} {
		r := w.do("POST", "/scim/v2/Users", scimClient, `{"userName":"`+name+`","externalId":"`+oid+`","active":true}`)
		w.ids[name] = r.json(t)["id"].(string)
	}
	r := w.do("POST", "/scim/v2/Groups", scimClient, `{"displayName":"ADF Readers","members":[{"value":"`+w.ids["grace@contoso.com"]+`"},{"value":"`+w.ids["henry@contoso.com"]+`"}]}`)
	w.groupID = r.json(t)["id"].(string)
	w.reconcile()
	return w
}

// reconcile runs the service's full reconcile, its audit records included.
func (w *reviewWorld) reconcile() {
	w.t.Helper()
	if _, err := w.e.app.Reconcile(context.Background(), nil); err != nil {
		w.t.Fatal(err)
	}
}

// do sends a request as client.
func (w *reviewWorld) do(method, path, client, body string) resp {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", w.e.with(w.t).bearer(client))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (w *reviewWorld) sheet() report.Sheet {
	w.t.Helper()
	r := w.do("GET", "/ops/v1/review?format=json&factory=adf-prod", auditorClient, "")
	if r.status != http.StatusOK {
		w.t.Fatalf("GET review: %d %s", r.status, r.body)
	}
	var sh report.Sheet
	if err := json.Unmarshal(r.body, &sh); err != nil {
		w.t.Fatal(err)
	}
	return sh
}

func submission(t *testing.T, reviewer, digest string, decisions ...report.Decision) string {
	t.Helper()
	b, err := json.Marshal(report.Submission{Reviewer: reviewer, SheetDigest: digest, Factory: "adf-prod", Decisions: decisions})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReviewRoundTrip: the factory owner gets a sheet, decides each line,
// uploads the decisions; the trail records them with the sheet's digest;
// the next sheet shows the removal as not carried out until the IdP's owner
// removes the member, and as carried out after.
func TestReviewRoundTrip(t *testing.T) {
	w := newReviewWorld(t)
	sh := w.sheet()
	if len(sh.Lines) != 2 || sh.Previous != nil || len(sh.FollowUps) != 0 || len(sh.Digest) != 64 {
		t.Fatalf("first sheet: %+v", sh)
	}
	line := map[string]report.SheetLine{}
	for _, l := range sh.Lines {
		line[l.UserName] = l
		if l.Factory != "adf-prod" || l.Role != "Reader" || l.Kind != report.KindMembership || l.Via != "ADF Readers" || l.Since == nil {
			t.Errorf("line %+v, want Reader on adf-prod through ADF Readers, with its since", l)
		}
	}
	grace, henry := line["grace@contoso.com"], line["henry@contoso.com"]
	keep := report.Decision{Line: grace.ID, Decision: report.DecisionKeep}
	remove := report.Decision{Line: henry.ID, Decision: report.DecisionRemove, Note: "left the project in May"}

	t.Run("refused", func(t *testing.T) {
		good := submission(t, "Dana Owner", sh.Digest, keep, remove)
		wantError(t, w.do("POST", "/ops/v1/review", auditorClient, good), http.StatusForbidden, "")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, submission(t, "Dana Owner", strings.Repeat("0", 64), keep, remove)), http.StatusConflict, "")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, submission(t, "Dana Owner", sh.Digest, keep, remove,
			report.Decision{Line: "0123456789abcdef", Decision: "keep"})), http.StatusBadRequest, "invalidValue")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, submission(t, "Dana Owner", sh.Digest, keep)), http.StatusBadRequest, "invalidValue")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, submission(t, "Dana Owner", sh.Digest, keep,
			report.Decision{Line: henry.ID, Decision: "maybe"})), http.StatusBadRequest, "invalidValue")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, submission(t, "", sh.Digest, keep, remove)), http.StatusBadRequest, "invalidValue")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, `{"reviewer":"Dana","sheetDigest":"`+sh.Digest+`","decisions":[],"token":"x"}`), http.StatusBadRequest, "invalidSyntax")
		wantError(t, w.do("POST", "/ops/v1/review", opsClient, `{"reviewer":`), http.StatusBadRequest, "invalidSyntax")
		wantError(t, w.do("GET", "/ops/v1/review?factory=adf-nowhere", auditorClient, ""), http.StatusBadRequest, "invalidValue")
		page, err := w.trail.Query(context.Background(), audit.Filter{Action: report.ActionReviewComplete})
		if err != nil || len(page.Records) != 0 {
			t.Errorf("a refused review reached the trail: %+v %v", page.Records, err)
		}
	})

	r := w.do("POST", "/ops/v1/review", opsClient, submission(t, "Dana Owner", sh.Digest, keep, remove))
	if r.status != http.StatusOK {
		t.Fatalf("POST review: %d %s", r.status, r.body)
	}
	var done report.Completion
	if err := json.Unmarshal(r.body, &done); err != nil {
		t.Fatal(err)
	}
	if len(done.Actions) != 1 || done.Actions[0].Line != henry.ID || done.Actions[0].Action != "in the identity provider, remove henry@contoso.com from ADF Readers" ||
		done.Review.Keep != 1 || done.Review.Remove != 1 || done.Review.Reviewer != "Dana Owner" || done.Review.Actor != "ops" {
		t.Errorf("completion = %+v", done)
	}

	// The trail holds the review: who uploaded it, the reviewer, the digest.
	page, err := w.trail.Query(context.Background(), audit.Filter{Action: report.ActionReviewComplete})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("review records: %+v %v", page.Records, err)
	}
	rec := page.Records[0]
	got := map[string]any{}
	for _, c := range rec.Changes {
		got[c.Path] = c.Value
	}
	if rec.Actor != "ops" || got["reviewer"] != "Dana Owner" || got["sheetDigest"] != sh.Digest || rec.Target.ID != sh.Digest {
		t.Errorf("record = %+v", rec)
	}
	if raw, _ := json.Marshal(rec); bytes.Contains(raw, []byte(w.e.token(opsClient))) {
		t.Error("the record holds the bearer token")
	}

	// Not carried out yet: henry still holds the role.
	sh2 := w.sheet()
	if sh2.Previous == nil || sh2.Previous.Seq != rec.Seq || sh2.Previous.SheetDigest != sh.Digest || len(sh2.FollowUps) != 1 ||
		sh2.FollowUps[0].Status != report.FollowUpNotDone || sh2.FollowUps[0].Note != "left the project in May" {
		t.Errorf("second sheet: previous %+v, follow-ups %+v; want henry's removal not carried out", sh2.Previous, sh2.FollowUps)
	}
	for _, l := range sh2.Lines {
		if want := map[string]string{grace.ID: "keep", henry.ID: "remove"}[l.ID]; l.Previous != want {
			t.Errorf("line %s shows previous decision %q, want %q", l.UserName, l.Previous, want)
		}
	}
	// The IdP's owner removes henry; adfscim revokes; the next sheet shows it done.
	r = w.do("PATCH", "/scim/v2/Groups/"+w.groupID, scimClient,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"`+w.ids["henry@contoso.com"]+`\"]"}]}`)
	if r.status >= 300 {
		t.Fatalf("PATCH group: %d %s", r.status, r.body)
	}
	w.reconcile()
	sh3 := w.sheet()
	if len(sh3.Lines) != 1 || sh3.Lines[0].UserName != "grace@contoso.com" || len(sh3.FollowUps) != 1 || sh3.FollowUps[0].Status != report.FollowUpDone {
		t.Errorf("third sheet: lines %+v, follow-ups %+v; want grace only and henry's removal carried out", sh3.Lines, sh3.FollowUps)
	}
	if sh3.Digest == sh.Digest {
		t.Error("the sheet's digest did not change with its lines")
	}

	// The owner's formats: the CSV ends with the digest, the page names it.
	r = w.do("GET", "/ops/v1/review?format=csv&factory=adf-prod", auditorClient, "")
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		// the digest row has fewer fields
		cr := csv.NewReader(bytes.NewReader(r.body))
		cr.FieldsPerRecord = -1
		rows, err = cr.ReadAll()
	}
	if err != nil || len(rows) != 3 || rows[1][4] != "grace@contoso.com" || rows[2][0] != "#digest" || rows[2][1] != sh3.Digest {
		t.Errorf("CSV sheet %q (%v)", rows, err)
	}
	r = w.do("GET", "/ops/v1/review?format=html&factory=adf-prod", auditorClient, "")
	if body := string(r.body); r.status != 200 || !strings.Contains(body, sh3.Digest) || !strings.Contains(body, "carried out") ||
		r.header.Get("Content-Security-Policy") != report.SheetContentSecurityPolicy {
		t.Errorf("HTML sheet: %d, CSP %q", r.status, r.header.Get("Content-Security-Policy"))
	}
	// The canonical CSV is what the digest is of: an auditor can recompute it.
	if sum := digestOf(report.CanonicalCSV(sh3.Lines)); sum != sh3.Digest {
		t.Errorf("SHA-256 of the canonical CSV %s, the sheet says %s", sum, sh3.Digest)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

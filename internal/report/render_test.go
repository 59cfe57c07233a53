package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/store"
)

// TestTamperedTrail: a record altered in the store turns the report's trail
// status to BROKEN, naming the first break, in every format a reader sees.
func TestTamperedTrail(t *testing.T) {
	w := story(t)
	ctx := context.Background()
	rows, err := w.st.List(ctx, audit.Table, store.Query{PartitionKey: "20260302", Prefix: "r"})
	if err != nil || len(rows) < 5 {
		t.Fatalf("audit rows: %d, %v", len(rows), err)
	}
	victim := rows[4] // seq 5: the creation of ADF Contributors
	forged := bytes.Replace(victim.Data, []byte("ADF Contributors"), []byte("ADF Contributorz"), 1)
	if bytes.Equal(forged, victim.Data) {
		t.Fatalf("record 5 does not name the group: %s", victim.Data)
	}
	victim.Data = forged
	if _, err := w.st.Batch(ctx, audit.Table, []store.Op{{Kind: store.Replace, Entity: victim, IfMatch: victim.ETag}}); err != nil {
		t.Fatal(err)
	}

	rep := w.report()
	if !rep.Trail.Checked || rep.Trail.OK || rep.Trail.Break == nil || rep.Trail.Break.Seq != 5 ||
		!strings.HasPrefix(rep.Trail.Status, "BROKEN: modified") {
		t.Fatalf("trail = %+v, want BROKEN at seq 5", rep.Trail)
	}
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `class="trail bad"`) || !strings.Contains(page.String(), "BROKEN: modified at day 20260302 seq 5") {
		t.Errorf("the page does not show the break")
	}
}

// TestUntrustedValues: names an identity provider sends are data, never
// markup or spreadsheet formulas.
func TestUntrustedValues(t *testing.T) {
	ts := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	rep := &report.Report{
		Schema: report.Schema, Generated: ts,
		Access: []report.Access{{
			Status: report.StatusGranted, UserName: `=HYPERLINK("http://evil","x")`, PrincipalID: "p",
			Groups: []report.GroupRef{{ID: "g", DisplayName: `<script>alert(1)</script>`}},
			Role:   "Reader", Factory: "adf-prod", Since: &ts,
		}},
		Recent: []report.Event{{Time: ts, Actor: `"><img src=x onerror=alert(1)>`, Action: "user.create", Target: "@SUM(A1)", Success: true}},
	}
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{report.FormatHTML, func(t *testing.T, out string) {
			for _, bad := range []string{"<script>alert", "<img src=x"} {
				if strings.Contains(out, bad) {
					t.Errorf("the page carries %q unescaped", bad)
				}
			}
			if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("the group name is not shown escaped")
			}
		}},
		{report.FormatCSV, func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || len(rows[0]) != len(report.CSVHeader) {
				t.Fatalf("csv = %q", rows)
			}
			if got := rows[1][1]; got != `'=HYPERLINK("http://evil","x")` {
				t.Errorf("user_name cell = %q, want it defused with a leading quote", got)
			}
		}},
		{report.FormatJSON, func(t *testing.T, out string) {
			var back report.Report
			if err := json.Unmarshal([]byte(out), &back); err != nil {
				t.Fatal(err)
			}
			if back.Access[0].UserName != rep.Access[0].UserName || back.Access[0].Groups[0].DisplayName != rep.Access[0].Groups[0].DisplayName {
				t.Errorf("JSON changed the values: %+v", back.Access[0])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			var b strings.Builder
			if err := report.Write(&b, rep, tc.format); err != nil {
				t.Fatal(err)
			}
			tc.check(t, b.String())
		})
	}
	if err := report.Write(&strings.Builder{}, rep, "pdf"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

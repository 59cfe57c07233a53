package report_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

// BenchmarkBuild measures a report of 1,000 members of a group bound to two
// factories (2,000 assignments) on the embedded store, with a trail of
// their 3,000-odd records. Run by hand: go test -run='^$' -bench=Build -benchtime=5x ./internal/report
func BenchmarkBuild(b *testing.B) {
	const users = 1000
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := directory.New(st, directory.Options{})
	trail := audit.New(st, audit.Options{})
	arm, _, err := armclient.NewLocal(st, armclient.Options{WritesPerSecond: 1e6, WriteBurst: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	mapping, err := rbac.ParseMapping([]byte(mappingJSON))
	if err != nil {
		b.Fatal(err)
	}
	rec, err := rbac.New(rbac.Options{Mapping: mapping, Directory: rbac.FromDirectory(dir), ARM: arm, Store: st,
		OnApplied: func(ctx context.Context, rep rbac.Report) {
			if err := trail.Append(ctx, report.AuditRecords(rep)...); err != nil {
				b.Error(err)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	var members []scim.Member
	for i := range users {
		name := fmt.Sprintf("user%05d@contoso.com", i)
		res, _, err := dir.Create(ctx, "User", map[string]any{"userName": name, "externalId": fmt.Sprintf("00000000-0000-4000-8000-%012d", i), "active": true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, scim.Member{Value: res.ID})
		if err := trail.Append(ctx, audit.Record{Actor: "entra-prod", Action: "user.create", Target: audit.Target{Type: "User", ID: res.ID, Display: name}, Outcome: audit.Outcome{Success: true}}); err != nil {
			b.Fatal(err)
		}
	}
	g, _, err := dir.Create(ctx, "Group", map[string]any{"displayName": "ADF Readers"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := dir.Patch(ctx, "Group", g.ID, func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, AddMembers: members}, nil
	}, "", nil); err != nil {
		b.Fatal(err)
	}
	if _, err := rec.Reconcile(ctx, nil); err != nil {
		b.Fatal(err)
	}
	builder, err := report.New(report.Options{Mapping: mapping, Directory: rbac.FromDirectory(dir), Resolver: rbac.Resolver{}, ARM: rec, Audit: trail,
		Verify: func(ctx context.Context) (audit.Result, error) {
			return audit.Verify(ctx, st, time.Time{}, time.Time{})
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var size [3]int
	for b.Loop() {
		rep, err := builder.Build(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.Granted != 2*users || !rep.Trail.OK {
			b.Fatalf("summary %+v, trail %+v", rep.Summary, rep.Trail)
		}
		for i, f := range []string{report.FormatJSON, report.FormatCSV, report.FormatHTML} {
			var out bytes.Buffer
			if err := report.Write(&out, rep, f); err != nil {
				b.Fatal(err)
			}
			size[i] = out.Len()
		}
	}
	b.ReportMetric(float64(size[0])/1024, "json-KiB")
	b.ReportMetric(float64(size[1])/1024, "csv-KiB")
	b.ReportMetric(float64(size[2])/1024, "html-KiB")
}

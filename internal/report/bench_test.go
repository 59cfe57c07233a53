package report_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/directory"
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
	env := map[string]string{"ADFSCIM_MAPPING": mappingJSON} // on the embedded store: the simulated ARM
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := app.Open(ctx, cfg, app.Options{Store: st, ARM: armclient.Options{WritesPerSecond: 1e6, WriteBurst: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	dir, trail := svc.Directory, svc.Trail
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
	if _, err := svc.Reconcile(ctx, nil); err != nil {
		b.Fatal(err)
	}
	builder := svc.Report
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

package rbac_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

// slowTransport delays every request, list pages included, as ARM's round
// trips do.
type slowTransport struct {
	inner policy.Transporter
	d     time.Duration
}

func (s slowTransport) Do(req *http.Request) (*http.Response, error) {
	t := time.NewTimer(s.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return s.inner.Do(req)
}

// BenchmarkFullReconcile10kRealistic is BenchmarkFullReconcile10k against
// an ARM that takes 150 ms a call (every list page too), with the production write limiter (10
// writes/s, burst 30), with 0, 10 and 100 users (0, 30 and 300 assignments) missing:
// the list pages stay the same, the writes and the time follow the changes.
//
//	go test -run '^$' -bench BenchmarkFullReconcile10kRealistic -benchtime 1x ./internal/rbac/
func BenchmarkFullReconcile10kRealistic(b *testing.B) {
	for _, missing := range []int{0, 10, 100} {
		b.Run(fmt.Sprint(missing, " missing"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := memstore.New()
				sim := armsim.New(armsim.Options{Store: st, PageSize: 500})
				setup, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: sim.Transport()})
				if err != nil {
					b.Fatal(err)
				}
				e := &env{store: st, sim: sim, dir: newDir(), arm: setup}
				populate(b, e, 10000, missing)
				a, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: slowTransport{sim.Transport(), 150 * time.Millisecond}})
				if err != nil {
					b.Fatal(err)
				}
				r, err := New(Options{Mapping: threeFactoryMapping(b), Directory: e.dir, ARM: a, Store: st})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				rep, err := r.Reconcile(context.Background(), nil)
				if err != nil || rep.Created != 3*missing {
					b.Fatalf("created %d: %v", rep.Created, err)
				}
				c := a.Calls()
				b.ReportMetric(float64(c.ListPages), "list-pages")
				b.ReportMetric(float64(c.Creates+c.Deletes), "writes")
			}
		})
	}
}

package rbac_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

func threeFactoryMapping(t testing.TB) *Mapping {
	return mustMapping(t, `{"factories":{"a":"`+factoryA+`","b":"`+factoryB+`","c":"`+factoryC+`"},"bindings":[
		{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b","c"]}]}`)
}

// populate makes n active members of Analysts, with their assignments
// already in ARM except the first `missing` ones.
func populate(t testing.TB, e *env, n, missing int) {
	ctx := context.Background()
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("u%06d", i)
		e.dir.putUser(User{ID: uid, ExternalID: pid(i), Active: true})
		e.dir.setMember("g1", uid, true)
		if i < missing {
			continue
		}
		for _, f := range []string{factoryA, factoryB, factoryC} {
			a := DesiredAssignment(f, pid(i), PrincipalUser, roleDFC, uid)
			if err := e.sim.Put(ctx, f, a.Name, armauthorization.RoleAssignmentProperties{
				PrincipalID: to.Ptr(a.PrincipalID), RoleDefinitionID: to.Ptr(RoleDefinitionID(f, roleDFC)),
				PrincipalType: to.Ptr(armauthorization.PrincipalTypeUser), Description: to.Ptr(a.Description)}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFullReconcileCallsGrowWithPagesNotUsers: a full reconcile lists each
// factory once, page by page, and writes only the changes.
func TestFullReconcileCallsGrowWithPagesNotUsers(t *testing.T) {
	for _, n := range []int{500, 2000} {
		t.Run(fmt.Sprint(n, " users"), func(t *testing.T) {
			e := newEnv(t, 1) // 50 assignments a page
			populate(t, e, n, 10)
			r := e.reconciler(t, threeFactoryMapping(t), "i1")
			// 3 x 2,000 assignments in one subscription is past Azure's limit
			// (budget_test.go covers it): this test counts calls only.
			r.Opts().BudgetShare = -1
			rep, err := r.Reconcile(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			c := e.arm.Calls()
			// 3 factories, 3*(n-10) assignments, 50 a page.
			if want := int64(3 * ((n - 10 + 49) / 50)); c.ListPages != want {
				t.Errorf("list pages = %d, want %d", c.ListPages, want)
			}
			if c.Creates != 30 || c.Deletes != 0 || rep.Created != 30 {
				t.Errorf("calls %+v, report created %d; want exactly the 30 missing creates", c, rep.Created)
			}
		})
	}
}

// latencyARM records when each write completed.
type latencyARM struct {
	AssignmentAPI
	mu   sync.Mutex
	done map[string]chan struct{}
}

func (l *latencyARM) signal(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.done[name]; ok {
		close(ch)
		delete(l.done, name)
	}
}

func (l *latencyARM) expect(name string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.done[name] = ch
	return ch
}

func (l *latencyARM) Create(ctx context.Context, a Assignment) error {
	err := l.AssignmentAPI.Create(ctx, a)
	if err == nil {
		l.signal("create " + a.Name)
	}
	return err
}

func (l *latencyARM) Delete(ctx context.Context, a Assignment) error {
	err := l.AssignmentAPI.Delete(ctx, a)
	if err == nil {
		l.signal("delete " + a.Name)
	}
	return err
}

// BenchmarkFastPathLatency measures the time from a SCIM write's 2xx (the
// Enqueue returning) to ARM having created (join) or deleted (deactivate)
// the assignment, against the simulated ARM with a realistic 150 ms per call,
// with 2,000 other users in the group. It reports p50/p95 in ms.
func BenchmarkFastPathLatency(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := memstore.New()
	sim := armsim.New(armsim.Options{Store: st, PageSize: 500, Latency: 150 * time.Millisecond})
	a, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: sim.Transport()})
	if err != nil {
		b.Fatal(err)
	}
	e := &env{store: st, sim: sim, dir: newDir(), arm: a}
	populate(b, e, 2000, 0)
	la := &latencyARM{AssignmentAPI: a, done: map[string]chan struct{}{}}
	m := mustMapping(b, `{"factories":{"a":"`+factoryA+`"},"bindings":[{"group":"Analysts","role":"Data Factory Contributor","factories":["a"]}]}`)
	r, err := New(Options{Mapping: m, Directory: e.dir, ARM: la, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	go r.Run(ctx, 0)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		uid := fmt.Sprintf("new%06d", i)
		p := pid(100000 + i)
		name := AssignmentName(factoryA, p, roleDFC)
		// join
		e.dir.putUser(User{ID: uid, ExternalID: p, Active: true})
		e.dir.setMember("g1", uid, true)
		ch := la.expect("create " + name)
		t0 := time.Now()
		if err := r.Enqueue(ctx, UserRef(uid)); err != nil {
			b.Fatal(err)
		}
		<-ch
		lat = append(lat, time.Since(t0))
		// deactivate
		e.dir.putUser(User{ID: uid, ExternalID: p, Active: false})
		ch = la.expect("delete " + name)
		t0 = time.Now()
		if err := r.Enqueue(ctx, UserRef(uid)); err != nil {
			b.Fatal(err)
		}
		<-ch
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Milliseconds()), "p95-ms")
}

// BenchmarkFullReconcile10k measures a full reconcile of 10,000 users on
// three factories (30,000 assignments, 100 missing) and reports its ARM
// calls.
func BenchmarkFullReconcile10k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := memstore.New()
		sim := armsim.New(armsim.Options{Store: st, PageSize: 500})
		a, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: sim.Transport()})
		if err != nil {
			b.Fatal(err)
		}
		e := &env{store: st, sim: sim, dir: newDir(), arm: a}
		populate(b, e, 10000, 100)
		r, err := New(Options{Mapping: threeFactoryMapping(b), Directory: e.dir, ARM: a, Store: st})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := r.Reconcile(context.Background(), nil)
		if err != nil || rep.Created != 300 {
			b.Fatalf("created %d: %v", rep.Created, err)
		}
		c := a.Calls()
		b.ReportMetric(float64(c.ListPages), "list-pages")
		b.ReportMetric(float64(c.Creates+c.Deletes), "writes")
	}
}

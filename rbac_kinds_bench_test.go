package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

// writeLog records when each ARM write (PUT, DELETE) arrived, with its path
// and body, in front of the simulated ARM.
type writeLog struct {
	mu     sync.Mutex
	writes []armWrite
}

type armWrite struct {
	at   time.Time
	text string // method, path and body, lower case
}

func (l *writeLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || r.Method == http.MethodDelete {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			l.mu.Lock()
			l.writes = append(l.writes, armWrite{at: time.Now(), text: strings.ToLower(r.Method + " " + r.URL.Path + " " + string(body))})
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

// since returns the writes from index i on that mention any of keys.
func (l *writeLog) since(i int, keys ...string) (matched []armWrite, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.writes[min(i, len(l.writes)):] {
		for _, k := range keys {
			if strings.Contains(w.text, k) {
				matched = append(matched, w)
				break
			}
		}
	}
	return matched, len(l.writes)
}

// newSimE2EServer is newE2EServer with the simulated ARM (latency, the
// schedule APIs) served over TLS instead of the hand-written fake.
func newSimE2EServer(b *testing.B, h http.Handler) *e2eServer {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	s := &e2eServer{t: b, st: st, dataDir: b.TempDir()}
	s.armSrv = httptest.NewTLSServer(h)
	b.Cleanup(s.armSrv.Close)
	s.armOpts = armclient.Options{Credential: &azfake.TokenCredential{}, Transport: s.armSrv.Client()} // production limits
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.cur.Load().app.Handler.ServeHTTP(w, r)
	}))
	b.Cleanup(s.http.Close)
	s.base = s.http.URL
	s.url = s.http.URL + handlers.ScimPrefix
	b.Cleanup(s.stop)
	return s
}

// BenchmarkRBACKindsFastPath: a person joins a group bound on three
// factories, then is deactivated, through the SCIM API and the fast path,
// with each binding kind: standing, time-bound (maxDuration) and eligible
// (PIM). ARM is the simulated one over TLS, each call taking 100–300 ms.
// Reported: the time from the SCIM answer to ARM receiving the first write
// and the last one (p50, p95), and the ARM writes per change.
func BenchmarkRBACKindsFastPath(b *testing.B) {
	kinds := []struct{ name, extra string }{
		{"standing", ``},
		{"timeBound", `,"kind":"active","maxDuration":"720h"`},
		{"eligible", `,"kind":"eligible"`},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			log := &writeLog{}
			var sim *armsim.Sim
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sim.Handler().ServeHTTP(w, r) })
			s := newSimE2EServer(b, log.wrap(h))
			sim = armsim.New(armsim.Options{Store: s.st, Latency: 100 * time.Millisecond, LatencyJitter: 200 * time.Millisecond})
			var fs []string
			for _, f := range e2eFactories {
				fs = append(fs, fmt.Sprintf("%q", f))
			}
			mapping := `{"bindings":[{"group":"Analysts","role":"Data Factory Contributor","factories":[` + strings.Join(fs, ",") + `]` + k.extra + `}]}`
			s.start(mapping, "bench", true)
			var g struct{ ID string }
			s.do("POST", "/Groups", `{"displayName":"Analysts","members":[]}`, &g)
			rng := rand.New(rand.NewPCG(7, 7))
			var joinFirst, joinLast, leaveFirst, leaveLast []time.Duration
			var joinWrites, leaveWrites int
			ctx := context.Background()
			wait := func(from int, want int, keys ...string) ([]armWrite, int) {
				for {
					m, n := log.since(from, keys...)
					if len(m) >= want {
						return m, n
					}
					select {
					case <-ctx.Done():
						b.Fatal(ctx.Err())
					case <-time.After(2 * time.Millisecond):
					}
				}
			}
			keys := func(oid string) []string {
				ks := []string{strings.ToLower(oid)}
				for _, f := range e2eFactories {
					ks = append(ks, rbac.AssignmentName(f, oid, e2eRoleContributor))
				}
				return ks
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				oid := randomGUID(rng)
				var u struct{ ID string }
				s.do("POST", "/Users", fmt.Sprintf(`{"userName":"joiner%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &u)
				_, mark := log.since(1 << 30)
				s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[{"value":%q}]}]}`, patchOp, u.ID), nil)
				answered := time.Now()
				wait(mark, 3, keys(oid)...)
				time.Sleep(50 * time.Millisecond) // let retries or extra writes show
				m, _ := log.since(mark, keys(oid)...)
				joinWrites += len(m)
				joinFirst = append(joinFirst, m[0].at.Sub(answered))
				joinLast = append(joinLast, m[len(m)-1].at.Sub(answered))
				_, mark = log.since(1 << 30)
				s.do("PATCH", "/Users/"+u.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, patchOp), nil)
				answered = time.Now()
				wait(mark, 3, keys(oid)...)
				time.Sleep(50 * time.Millisecond)
				m, _ = log.since(mark, keys(oid)...)
				leaveWrites += len(m)
				leaveFirst = append(leaveFirst, m[0].at.Sub(answered))
				leaveLast = append(leaveLast, m[len(m)-1].at.Sub(answered))
			}
			b.StopTimer()
			pct := func(d []time.Duration, p int) float64 {
				d = append([]time.Duration(nil), d...)
				sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
				return float64(d[min(len(d)-1, len(d)*p/100)].Milliseconds())
			}
			b.ReportMetric(pct(joinFirst, 95), "join-first-p95-ms")
			b.ReportMetric(pct(joinLast, 50), "join-last-p50-ms")
			b.ReportMetric(pct(joinLast, 95), "join-last-p95-ms")
			b.ReportMetric(pct(leaveFirst, 95), "leave-first-p95-ms")
			b.ReportMetric(pct(leaveLast, 95), "leave-last-p95-ms")
			b.ReportMetric(float64(joinWrites)/float64(b.N), "writes/join")
			b.ReportMetric(float64(leaveWrites)/float64(b.N), "writes/leave")
		})
	}
}

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
)

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
			arm := newE2EARM(b, armsim.Options{Latency: 100 * time.Millisecond, LatencyJitter: 200 * time.Millisecond})
			s := newBoltE2EServer(b, arm, armLimits{}) // production limits
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
			// writes returns ARM's writes for oid from call index from on
			// (any of the principal's requests, or a delete naming one of
			// its standing assignments), once there are at least want, and
			// the index to go on from.
			writes := func(from, want int, oid string) ([]armsim.Call, int) {
				names := map[string]bool{}
				for _, f := range e2eFactories {
					names[rbac.AssignmentName(f, oid, e2eRoleContributor)] = true
				}
				var m []armsim.Call
				next := from
				arm.waitFor(b, context.Background(), "the writes of "+oid, func() bool {
					var calls []armsim.Call
					calls, next = arm.calls(from)
					m = m[:0]
					for _, c := range calls {
						if c.Write() && (c.Principal == oid || names[c.Name()]) {
							m = append(m, c)
						}
					}
					return len(m) >= want
				})
				return m, next
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				oid := randomGUID(rng)
				var u struct{ ID string }
				s.do("POST", "/Users", fmt.Sprintf(`{"userName":"joiner%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &u)
				_, mark := arm.calls(1 << 30)
				s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[{"value":%q}]}]}`, patchOp, u.ID), nil)
				answered := time.Now()
				writes(mark, 3, oid)
				// Let retries or extra writes show: the log holds a write once
				// carried out, so wait out ARM's latency too.
				time.Sleep(350 * time.Millisecond)
				m, _ := writes(mark, 0, oid)
				joinWrites += len(m)
				joinFirst = append(joinFirst, m[0].Received.Sub(answered))
				joinLast = append(joinLast, m[len(m)-1].Received.Sub(answered))
				_, mark = arm.calls(1 << 30)
				s.do("PATCH", "/Users/"+u.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, patchOp), nil)
				answered = time.Now()
				writes(mark, 3, oid)
				time.Sleep(350 * time.Millisecond)
				m, _ = writes(mark, 0, oid)
				leaveWrites += len(m)
				leaveFirst = append(leaveFirst, m[0].Received.Sub(answered))
				leaveLast = append(leaveLast, m[len(m)-1].Received.Sub(answered))
			}
			b.StopTimer()
			pct := percentile
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

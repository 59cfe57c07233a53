package main

// Bursts of joiners and leavers the way an identity provider sends them:
// Entra's POST /Users then PATCH /Groups Add, several people a second or a
// whole group at once, through the real server and the real ARM client
// against the simulated ARM over TLS answering in 100–300 ms.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/rbac/armsim"
)

// The write budget the bursts run under, and the ideal it sets: the first
// burstBucket writes go at once, the rest at burstRate a second.
const (
	burstRate   = 10
	burstBucket = 30
)

// burstIdeal is the least time the write limiter allows for n writes: from
// the first to the start of the last.
func burstIdeal(n int) time.Duration {
	return time.Duration(float64(max(0, n-burstBucket)) / burstRate * float64(time.Second))
}

// burstPerson tracks one joiner or leaver (under burstBench.mu).
type burstPerson struct {
	op       string // the write awaited: "PUT" or "DELETE"
	want     int    // how many
	got      int
	answered time.Time // the SCIM answer that made the change
	last     time.Time // ARM applied the last awaited write
}

type burstBench struct {
	b      *testing.B
	s      *e2eServer
	arm    *e2eARM
	groups map[string]string // display name -> SCIM id

	mu     sync.Mutex
	rng    *rand.Rand
	people map[string]*burstPerson // object id -> tracking
	next   int                     // joiner counter, for unique names
	seen   int                     // ARM's calls counted into people so far
}

// newBurstBench starts a server with the mapping, the groups and, in the
// first group, existing members that already hold their assignments; then
// switches on the fast path.
func newBurstBench(b *testing.B, mp oMapping, existing int) *burstBench {
	arm := newE2EARM(b, armsim.Options{PageSize: 500, Latency: 100 * time.Millisecond, LatencyJitter: 200 * time.Millisecond})
	s := newBoltE2EServer(b, arm, armLimits{writesPerSecond: burstRate, writeBurst: burstBucket})
	bb := &burstBench{b: b, s: s, arm: arm, groups: map[string]string{}, rng: rand.New(rand.NewPCG(11, 11)), people: map[string]*burstPerson{}}
	s.start(mp.JSON(), "bench", false)
	for _, bd := range mp {
		if _, ok := bb.groups[bd.group]; ok {
			continue
		}
		var g struct{ ID string }
		s.do("POST", "/Groups", fmt.Sprintf(`{"displayName":%q,"members":[]}`, bd.group), &g)
		bb.groups[bd.group] = g.ID
	}
	var members []string
	for i := 0; i < existing; i++ {
		oid := randomGUID(bb.rng)
		var res struct{ ID string }
		s.do("POST", "/Users", fmt.Sprintf(`{"userName":"member%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &res)
		members = append(members, res.ID)
		for _, f := range mp[0].factories {
			arm.plantOwned(b, oid, mp[0].role, e2eFactories[f])
		}
	}
	for i := 0; i < len(members); i += 100 {
		bb.addMembers(mp[0].group, members[i:min(i+100, len(members))])
	}
	s.timer() // drains the setup's queue; writes nothing
	s.start(mp.JSON(), "bench", true)
	_, bb.seen = arm.calls(1 << 30)
	return bb
}

func (bb *burstBench) addMembers(group string, uids []string) {
	vals := make([]string, len(uids))
	for i, u := range uids {
		vals[i] = fmt.Sprintf(`{"value":%q}`, u)
	}
	bb.s.do("PATCH", "/Groups/"+bb.groups[group], fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[%s]}]}`, patchOp, strings.Join(vals, ",")), nil)
}

func (bb *burstBench) removeMember(group, uid string) {
	bb.s.do("PATCH", "/Groups/"+bb.groups[group], fmt.Sprintf(`{%s,"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, patchOp, uid), nil)
}

// newUser creates a joiner as Entra does (POST /Users) and returns its SCIM
// id and object id.
func (bb *burstBench) newUser() (uid, oid string) {
	bb.mu.Lock()
	oid = randomGUID(bb.rng)
	n := bb.next
	bb.next++
	bb.mu.Unlock()
	var res struct{ ID string }
	bb.s.do("POST", "/Users", fmt.Sprintf(`{"userName":"joiner%05d@contoso.com","externalId":%q,"active":true}`, n, oid), &res)
	return res.ID, oid
}

// expect starts tracking oid: want writes of op are awaited.
func (bb *burstBench) expect(oid, op string, want int) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	bb.people[oid] = &burstPerson{op: op, want: want}
}

// answered records the SCIM answer that made the change of each oid.
func (bb *burstBench) answered(at time.Time, oids ...string) {
	bb.mu.Lock()
	defer bb.mu.Unlock()
	for _, oid := range oids {
		bb.people[oid].answered = at
	}
}

// wait blocks until every tracked person's writes are applied and returns
// the latencies (SCIM answer to the last write) and the time of the last
// write; it forgets them.
func (bb *burstBench) wait() ([]time.Duration, time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a deadlock guard, not a measurement
	defer cancel()
	bb.arm.waitFor(bb.b, ctx, "every awaited write", func() bool {
		calls, next := bb.arm.calls(bb.seen)
		bb.mu.Lock()
		defer bb.mu.Unlock()
		bb.seen = next
		for _, c := range calls {
			if p := bb.people[c.Principal]; c.Changed && p != nil && p.op == c.Method {
				p.got++
				p.last = c.Done
			}
		}
		for _, p := range bb.people {
			if p.got < p.want {
				return false
			}
		}
		return true
	})
	bb.mu.Lock()
	defer bb.mu.Unlock()
	var out []time.Duration
	var last time.Time
	for _, p := range bb.people {
		out = append(out, max(0, p.last.Sub(p.answered)))
		if p.last.After(last) {
			last = p.last
		}
	}
	bb.people = map[string]*burstPerson{}
	return out, last
}

func (bb *burstBench) calls() (reads, writes int) {
	reads, writes, _ = bb.arm.counts()
	return reads, writes
}

func reportLatency(b *testing.B, what string, d []time.Duration) {
	b.ReportMetric(percentile(d, 50), what+"-p50-ms")
	b.ReportMetric(percentile(d, 95), what+"-p95-ms")
	b.ReportMetric(percentile(d, 100), what+"-max-ms")
}

// parallel runs fn(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// BenchmarkRBACBursts measures joiners and leavers in bursts, as an identity
// provider sends them, through the SCIM API against the simulated ARM over
// TLS that answers every call (list pages included) after 100–300 ms, with the ARM
// client's write limiter at 10 writes/s and a bucket of 30:
//
//   - joiners20: 20 joiners at about 6 a second (each POST /Users, then
//     PATCH /Groups Add), into a group bound to two factories that 1,000
//     members already hold; then the same 20 leave (PATCH Remove) at 6 a
//     second;
//   - joiners200: 200 users created, then added to that group 10 to a PATCH
//     as fast as the server answers (a big group assigned);
//   - initial: Entra's first cycle, 2,000 users (ADFSCIM_RBAC_BURST_USERS)
//     created, then 5 groups of 400 each bound to one of 3 factories.
//
// Reported: p50/p95/max from the SCIM answer that made a person join (leave)
// to ARM applying the last of their writes, ARM list pages and writes per
// joiner, and for the big bursts the time from the first membership PATCH
// to the last write against the ideal the write limiter sets.
//
//	go test -run '^$' -bench BenchmarkRBACBursts -benchtime 1x -timeout 60m .
func BenchmarkRBACBursts(b *testing.B) {
	analysts := oMapping{{group: "Analysts", roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{0, 1}}}
	b.Run("joiners20", func(b *testing.B) {
		bb := newBurstBench(b, analysts, 1000)
		var join, leave []time.Duration
		reads0, writes0 := bb.calls()
		joiners, joinReads, joinWrites, leaveReads, leaveWrites := 0, 0, 0, 0, 0
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			const k = 20
			uids, oids := make([]string, k), make([]string, k)
			tick := time.NewTicker(time.Second / 6)
			var wg sync.WaitGroup
			for i := 0; i < k; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					uids[i], oids[i] = bb.newUser()
					bb.expect(oids[i], "PUT", 2)
					bb.addMembers("Analysts", uids[i:i+1])
					bb.answered(time.Now(), oids[i])
				}()
				<-tick.C
			}
			wg.Wait()
			d, _ := bb.wait()
			join = append(join, d...)
			joiners += k
			r, w := bb.calls()
			joinReads, joinWrites = joinReads+r-reads0, joinWrites+w-writes0
			reads0, writes0 = r, w
			for i := 0; i < k; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					bb.expect(oids[i], "DELETE", 2)
					bb.removeMember("Analysts", uids[i])
					bb.answered(time.Now(), oids[i])
				}()
				<-tick.C
			}
			tick.Stop()
			wg.Wait()
			d, _ = bb.wait()
			leave = append(leave, d...)
			r, w = bb.calls()
			leaveReads, leaveWrites = leaveReads+r-reads0, leaveWrites+w-writes0
			reads0, writes0 = r, w
		}
		b.StopTimer()
		reportLatency(b, "join", join)
		reportLatency(b, "leave", leave)
		b.ReportMetric(float64(joinReads)/float64(joiners), "reads/joiner")
		b.ReportMetric(float64(joinWrites)/float64(joiners), "writes/joiner")
		b.ReportMetric(float64(leaveReads)/float64(joiners), "reads/leaver")
		b.ReportMetric(float64(leaveWrites)/float64(joiners), "writes/leaver")
	})
	b.Run("joiners200", func(b *testing.B) {
		bb := newBurstBench(b, analysts, 1000)
		for n := 0; n < b.N; n++ {
			runBigBurst(b, bb, []string{"Analysts"}, 200, 2)
		}
	})
	b.Run("initial", func(b *testing.B) {
		users := 2000
		if v := os.Getenv("ADFSCIM_RBAC_BURST_USERS"); v != "" {
			var err error
			if users, err = strconv.Atoi(v); err != nil || users < 5 {
				b.Fatalf("ADFSCIM_RBAC_BURST_USERS=%q: want a number ≥ 5", v)
			}
		}
		var mp oMapping
		var groups []string
		for g := 0; g < 5; g++ {
			name := fmt.Sprintf("Team%d", g)
			groups = append(groups, name)
			mp = append(mp, oBinding{group: name, roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{g % 3}})
		}
		bb := newBurstBench(b, mp, 0)
		for n := 0; n < b.N; n++ {
			runBigBurst(b, bb, groups, users, 1)
		}
	})
}

// runBigBurst creates users (8 POSTs in flight), then adds them to the
// groups in turn, 10 to a PATCH, and reports as BenchmarkRBACBursts says;
// each user gets perUser assignments.
func runBigBurst(b *testing.B, bb *burstBench, groups []string, users, perUser int) {
	b.StopTimer()
	reads0, writes0 := bb.calls()
	uids, oids := make([]string, users), make([]string, users)
	b.StartTimer()
	parallel(users, 8, func(i int) { uids[i], oids[i] = bb.newUser() })
	for _, oid := range oids {
		bb.expect(oid, "PUT", perUser)
	}
	start := time.Now()
	per := users / len(groups)
	for g, name := range groups {
		end := (g + 1) * per
		if g == len(groups)-1 {
			end = users
		}
		for i := g * per; i < end; i += 10 {
			j := min(i+10, end)
			bb.addMembers(name, uids[i:j])
			bb.answered(time.Now(), oids[i:j]...)
		}
	}
	d, last := bb.wait()
	b.StopTimer()
	reads, writes := bb.calls()
	reportLatency(b, "join", d)
	b.ReportMetric(float64(reads-reads0)/float64(users), "reads/joiner")
	b.ReportMetric(float64(writes-writes0)/float64(users), "writes/joiner")
	took, ideal := last.Sub(start), burstIdeal(writes-writes0)
	b.ReportMetric(took.Seconds(), "converge-s")
	b.ReportMetric(ideal.Seconds(), "ideal-s")
	b.ReportMetric(took.Seconds()/ideal.Seconds(), "converge/ideal")
}

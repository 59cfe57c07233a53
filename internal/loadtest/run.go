package loadtest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRequestsFailed is returned (after the report is written) when any
// request of the run got a wrong answer: every figure must come from
// successful requests only.
var ErrRequestsFailed = errors.New("some load requests failed")

// Report is everything a run measured.
type Report struct {
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Provision *ProvisionResult `json:"provision,omitempty"`
	// Trivial is the faster of two runs of the trivial handler (before and
	// after the phases), the one ratios refer to; TrivialOther is the slower,
	// to show how much the machine drifted during the run.
	// Disk is the disk's ceiling for serial durable writes in the store's
	// directory (the faster of two runs, before and after the phases), the
	// one DiskRatio refers to.
	Disk         *DiskResult       `json:"disk,omitempty"`
	Trivial      *PhaseResult      `json:"trivial,omitempty"`
	TrivialOther *PhaseResult      `json:"trivial_other,omitempty"`
	Phases       []PhaseResult     `json:"phases,omitempty"`
	Memory       map[string]memory `json:"memory,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

// Settings echo the options that shape the figures.
type Settings struct {
	Target      string  `json:"target"`
	Spawned     bool    `json:"spawned"`
	Users       int     `json:"users"`
	Groups      int     `json:"groups"`
	Members     int     `json:"members"`
	MemberBatch int     `json:"member_batch"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds_per_phase"`
	Seed        int64   `json:"seed"`
	Trivial     string  `json:"trivial"`
}

// ProvisionResult is phase 1: Entra-style provisioning.
type ProvisionResult struct {
	Users          int     `json:"users"`
	UsersExisting  int     `json:"users_existing"`
	UsersSeconds   float64 `json:"users_seconds"`
	UsersPerSecond float64 `json:"users_per_second"`
	Groups         int     `json:"groups"`
	GroupsExisting int     `json:"groups_existing"`
	MemberPatches  int     `json:"member_patches"`
	Members        int     `json:"members_added"`
	GroupsSeconds  float64 `json:"groups_seconds"`
	// MembersPerSecond counts memberships added per second, group creation
	// included.
	MembersPerSecond float64 `json:"members_per_second"`
	Requests         int     `json:"requests"`
	Errors           int     `json:"errors"`
	// UsersRan and GroupsRan say which provisioning phases ran.
	UsersRan   bool   `json:"users_ran"`
	GroupsRan  bool   `json:"groups_ran"`
	FirstError string `json:"first_error,omitempty"`
}

// Command is `adfscim load`: it parses args and runs. getenv supplies
// SCIM_BEARER_TOKEN as the default token.
func Command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, serveTrivial, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if serveTrivial != "" {
		return ServeTrivial(ctx, serveTrivial, stdout)
	}
	return Run(ctx, o, stdout)
}

// Run executes the phases o asks for and writes the report to stdout. It
// returns ErrRequestsFailed if any request failed, after the report.
func Run(ctx context.Context, o Options, stdout io.Writer) (err error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	rep := &Report{
		Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadavg()},
		Settings: Settings{
			Users: o.Users, Groups: o.Groups, Members: o.Members, MemberBatch: o.MemberBatch,
			Connections: o.Connections, Seconds: o.Duration.Seconds(), Seed: o.Seed, Spawned: o.Spawn != "", Trivial: o.Trivial,
		},
		Memory: map[string]memory{},
	}
	base, pid, storeFile := strings.TrimRight(o.Target, "/"), o.PID, o.StoreFile
	if o.Spawn != "" {
		srv, err := spawn(ctx, &o)
		if err != nil {
			return err
		}
		defer func() {
			if serr := srv.stop(); serr != nil && err == nil {
				err = fmt.Errorf("stopping the spawned server: %w", serr)
			}
		}()
		base, pid, storeFile = srv.url, srv.pid(), srv.storeFile()
	}
	rep.Settings.Target = base
	c := newClient(base, o.Token, o.Connections)
	defer c.close()
	var prof *profiler
	if o.PprofURL != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
		prof = &profiler{base: strings.TrimRight(o.PprofURL, "/"), dir: o.ProfileDir}
	}

	r := &runner{o: o, c: c, nonce: strconv.FormatInt(time.Now().UnixNano(), 36)}
	snapshot := func(when string) {
		if pid > 0 || storeFile != "" {
			m, err := readMemory(pid, storeFile)
			if err != nil {
				fmt.Fprintf(os.Stderr, "adfscim load: memory after %s: %v\n", when, err)
			}
			rep.Memory[when] = m
		}
	}
	if o.runs(PhaseUsers) || o.runs(PhaseGroups) {
		rep.Provision = &ProvisionResult{}
		pctx, cancel := context.WithTimeout(ctx, o.ProvisionTimeout)
		if o.runs(PhaseUsers) {
			r.provisionUsers(pctx, rep.Provision)
		}
		if o.runs(PhaseGroups) && pctx.Err() == nil {
			if err := r.provisionGroups(pctx, rep.Provision); err != nil {
				cancel()
				return err
			}
		}
		if errors.Is(pctx.Err(), context.DeadlineExceeded) {
			rep.Provision.Errors++
			rep.Provision.FirstError = cmp.Or(rep.Provision.FirstError, fmt.Sprintf("provisioning did not finish within %s", o.ProvisionTimeout))
		}
		cancel()
		snapshot("provision")
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	measured := []struct {
		name string
		prep func(context.Context) error
		step step
	}{
		{PhaseFilter, nil, r.filterStep},
		{PhasePost, nil, r.postStep},
		{PhasePatch, r.patchPool, r.patchStep},
	}
	any := false
	for _, m := range measured {
		any = any || o.runs(m.name)
	}
	if any {
		body, err := r.sampleFilterAnswer(ctx)
		if err != nil {
			return err
		}
		ts, err := startTrivial(ctx, &o, body)
		if err != nil {
			return err
		}
		defer ts.close()
		tc := newClient(ts.url, o.Token, o.Connections)
		defer tc.close()
		tr := &runner{o: o, c: tc}
		trivial := func() PhaseResult {
			return drive(ctx, "trivial", o.Connections, o.Duration, o.MaxRequests, o.Seed, tr.trivialStep)
		}
		diskDir := ""
		if storeFile != "" && (o.runs(PhasePost) || o.runs(PhasePatch)) {
			diskDir = filepath.Dir(storeFile)
		}
		disk := func() *DiskResult {
			if diskDir == "" || ctx.Err() != nil {
				return nil
			}
			d, err := measureDisk(ctx, diskDir, min(o.Duration, 5*time.Second))
			if err != nil {
				fmt.Fprintf(os.Stderr, "adfscim load: %v\n", err)
				return nil
			}
			return &d
		}
		diskBefore := disk()
		before := trivial()
		rep.Trivial = &before
		for _, m := range measured {
			if !o.runs(m.name) || ctx.Err() != nil {
				continue
			}
			if m.prep != nil {
				if err := m.prep(ctx); err != nil {
					return fmt.Errorf("preparing %s: %w", m.name, err)
				}
			}
			wait := prof.start(ctx, m.name, o.Duration)
			res := drive(ctx, m.name, o.Connections, o.Duration, o.MaxRequests, o.Seed, m.step)
			if path, err := wait(); err != nil {
				fmt.Fprintf(os.Stderr, "adfscim load: profile of %s: %v\n", m.name, err)
			} else {
				res.Profile = path
			}
			rep.Phases = append(rep.Phases, res)
		}
		snapshot("measurements")
		// The machine is shared and noisy: measure the ceiling again after
		// the phases and compare with the faster of the two runs, so a
		// ratio is never flattered by a slow moment of the trivial handler.
		if ctx.Err() == nil {
			after := trivial()
			rep.Trivial, rep.TrivialOther = &before, &after
			if after.RPS > before.RPS {
				rep.Trivial, rep.TrivialOther = &after, &before
			}
			rep.TrivialOther.Name = "trivial-other"
		}
		rep.Disk = diskBefore
		if diskAfter := disk(); diskAfter != nil && diskBefore != nil {
			faster, slower := diskAfter, diskBefore
			if diskBefore.PerSecond > diskAfter.PerSecond {
				faster, slower = diskBefore, diskAfter
			}
			faster.OtherRunPS = slower.PerSecond
			rep.Disk = faster
		}
		for i := range rep.Phases {
			rep.Phases[i] = withDiskRatio(withRatios(rep.Phases[i], rep.Trivial), rep.Disk)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rep.Machine.LoadAfter = loadavg()
	if o.JSON {
		err = writeJSON(stdout, rep)
	} else {
		err = writeTable(stdout, rep)
	}
	if err != nil {
		return err
	}
	return rep.failures()
}

func (rep *Report) failures() error {
	var errs []error
	if p := rep.Provision; p != nil && p.Errors > 0 {
		errs = append(errs, fmt.Errorf("provision: %d errors, first: %s", p.Errors, p.FirstError))
	}
	for _, p := range append(append(rep.Phases, derefPhase(rep.Trivial)...), derefPhase(rep.TrivialOther)...) {
		if p.Errors > 0 {
			errs = append(errs, fmt.Errorf("%s: %d errors, first: %s", p.Name, p.Errors, p.FirstError))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrRequestsFailed, errors.Join(errs...))
}

func derefPhase(p *PhaseResult) []PhaseResult {
	if p == nil {
		return nil
	}
	return []PhaseResult{*p}
}

// runner holds what the phases share: the client and the ids provisioning
// learned.
type runner struct {
	o       Options
	c       *client
	userIDs []string // by user index; "" when unknown
	pool    []string // ids the PATCH phase picks from
	nonce   string   // makes the POST phase's user names unique per run
}

// failer counts a phase's failures and keeps the first.
func failer(res *ProvisionResult) func(error) {
	var mu sync.Mutex
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
}

// provisionUsers creates the users as Entra ID does: look each up by a
// userName filter, POST it when absent.
func (r *runner) provisionUsers(ctx context.Context, res *ProvisionResult) {
	o := r.o
	r.userIDs = make([]string, o.Users)
	res.UsersRan = true
	fail := failer(res)
	var requests, existing atomic.Int64

	// Users: a shared cursor hands out indices to the workers.
	begin := time.Now()
	var next atomic.Int64
	r.parallel(func(buf *bytes.Buffer, body []byte) []byte {
		for ctx.Err() == nil {
			i := int(next.Add(1) - 1)
			if i >= o.Users {
				return body
			}
			name := userName(o.Seed, i)
			id, _, err := r.c.lookup(ctx, "Users", "userName", name, buf)
			requests.Add(1)
			if err != nil {
				fail(err)
				continue
			}
			if id == "" {
				body = appendUserBody(body[:0], name, objectID(o.Seed, 'u', i), i)
				id, _, err = r.c.create(ctx, "Users", body, buf)
				requests.Add(1)
				if err != nil {
					fail(err)
					continue
				}
			} else {
				existing.Add(1)
			}
			r.userIDs[i] = id
		}
		return body
	})
	res.UsersSeconds = time.Since(begin).Seconds()
	for _, id := range r.userIDs {
		if id != "" {
			res.Users++
		}
	}
	res.UsersExisting = int(existing.Load())
	res.UsersPerSecond = float64(res.Users) / max(res.UsersSeconds, 1e-9)
	res.Requests += int(requests.Load())
}

// provisionGroups creates the groups as Entra ID does (look up by a
// displayName filter, POST without members) and adds their members with
// PATCH Add in batches.
func (r *runner) provisionGroups(ctx context.Context, res *ProvisionResult) error {
	o := r.o
	if r.userIDs == nil {
		if err := r.resolveUsers(ctx); err != nil {
			return err
		}
	}
	res.GroupsRan = true
	fail := failer(res)
	var requests, existing, next atomic.Int64
	// Groups: members of group g are the users at positions g*M ... g*M+M-1
	// of a seeded permutation (wrapping around), so with G*M <= N every
	// user is in at most one group.
	perm := rand.New(rand.NewPCG(uint64(o.Seed), 0x67)).Perm(o.Users)
	begin := time.Now()
	var groups, patches, members atomic.Int64
	r.parallel(func(buf *bytes.Buffer, body []byte) []byte {
		ids := make([]string, 0, o.MemberBatch)
		for ctx.Err() == nil {
			g := int(next.Add(1) - 1)
			if g >= o.Groups {
				return body
			}
			name := groupName(o.Seed, g)
			gid, _, err := r.c.lookup(ctx, "Groups", "displayName", name, buf)
			requests.Add(1)
			if err != nil {
				fail(err)
				continue
			}
			if gid != "" {
				// Provisioned by an earlier run with this seed: Entra would
				// send only changes, and there are none.
				existing.Add(1)
				groups.Add(1)
				continue
			}
			body = appendGroupBody(body[:0], name, objectID(o.Seed, 'g', g))
			gid, _, err = r.c.create(ctx, "Groups", body, buf)
			requests.Add(1)
			if err != nil {
				fail(err)
				continue
			}
			groups.Add(1)
			url := r.c.base + "/Groups/" + gid
			for j := 0; j < o.Members && ctx.Err() == nil; j += o.MemberBatch {
				ids = ids[:0]
				for k := j; k < min(j+o.MemberBatch, o.Members); k++ {
					if id := r.userIDs[perm[(g*o.Members+k)%o.Users]]; id != "" {
						ids = append(ids, id)
					}
				}
				if len(ids) == 0 {
					continue
				}
				body = appendAddMembers(body[:0], ids)
				status, answer, err := r.c.do(ctx, http.MethodPatch, url, body, buf)
				requests.Add(1)
				if err == nil && !is2xx(status) {
					err = statusError(http.MethodPatch, "Groups/{id}", status, answer)
				}
				if err != nil {
					fail(err)
					continue
				}
				patches.Add(1)
				members.Add(int64(len(ids)))
			}
		}
		return body
	})
	res.GroupsSeconds = time.Since(begin).Seconds()
	res.Groups = int(groups.Load())
	res.GroupsExisting = int(existing.Load())
	res.MemberPatches = int(patches.Load())
	res.Members = int(members.Load())
	res.MembersPerSecond = float64(res.Members) / max(res.GroupsSeconds, 1e-9)
	res.Requests += int(requests.Load())
	return nil
}

// resolveUsers looks up the ids of users an earlier run provisioned with
// the same seed (not measured).
func (r *runner) resolveUsers(ctx context.Context) error {
	r.userIDs = make([]string, r.o.Users)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	r.parallel(func(buf *bytes.Buffer, body []byte) []byte {
		for ctx.Err() == nil {
			i := int(next.Add(1) - 1)
			if i >= r.o.Users {
				return body
			}
			id, _, err := r.c.lookup(ctx, "Users", "userName", userName(r.o.Seed, i), buf)
			if err == nil && id == "" {
				err = fmt.Errorf("user %s not found; provision users first with the same -seed and -users", userName(r.o.Seed, i))
			}
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
				return body
			}
			r.userIDs[i] = id
		}
		return body
	})
	if first != nil {
		return fmt.Errorf("resolving provisioned users: %w", first)
	}
	return ctx.Err()
}

// parallel runs fn on Connections goroutines, each with its own buffers.
func (r *runner) parallel(fn func(buf *bytes.Buffer, body []byte) []byte) {
	var wg sync.WaitGroup
	for range r.o.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			fn(&buf, make([]byte, 0, 2048))
		}()
	}
	wg.Wait()
}

// sampleFilterAnswer fetches one real filter answer, whose bytes the trivial
// handler then serves, so both move the same amount of data.
func (r *runner) sampleFilterAnswer(ctx context.Context) ([]byte, error) {
	var buf bytes.Buffer
	status, body, err := r.c.do(ctx, http.MethodGet, r.c.filterURL("Users", "userName", userName(r.o.Seed, 0)), nil, &buf)
	if err != nil {
		return nil, fmt.Errorf("sample filter answer: %w", err)
	}
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"totalResults":1`)) {
		return nil, fmt.Errorf("sample filter answer: user %s not found (status %d); provision first with the same -seed and -users", userName(r.o.Seed, 0), status)
	}
	return bytes.Clone(body), nil
}

// filterStep looks up a random provisioned user; the answer must be 200
// with exactly that one user.
func (r *runner) filterStep(ctx context.Context, w *worker) error {
	i := w.rng.IntN(r.o.Users)
	status, body, err := r.c.do(ctx, http.MethodGet, r.c.filterURL("Users", "userName", userName(r.o.Seed, i)), nil, &w.buf)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return statusError(http.MethodGet, "Users?filter", status, body)
	}
	if !bytes.Contains(body, []byte(`"totalResults":1,`)) {
		return fmt.Errorf("GET /Users?filter userName eq %q: not exactly one result: %.200s", userName(r.o.Seed, i), body)
	}
	return nil
}

// trivialStep sends the same request to the trivial handler.
func (r *runner) trivialStep(ctx context.Context, w *worker) error {
	i := w.rng.IntN(r.o.Users)
	status, body, err := r.c.do(ctx, http.MethodGet, r.c.filterURL("Users", "userName", userName(r.o.Seed, i)), nil, &w.buf)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return statusError(http.MethodGet, "trivial", status, body)
	}
	return nil
}

// postStep creates a new user (names unique to this run and worker); the
// answer must be 201.
func (r *runner) postStep(ctx context.Context, w *worker) error {
	if r.nonce == "" {
		return errors.New("no run nonce")
	}
	w.seq++
	name := "load" + strconv.FormatInt(r.o.Seed, 10) + "-post" + r.nonce + "-" + strconv.Itoa(w.n) + "-" + strconv.Itoa(w.seq) + "@contoso.example"
	w.body = appendUserBody(w.body[:0], name, objectID(r.o.Seed, 'p', w.n<<24|w.seq), w.seq)
	status, body, err := r.c.do(ctx, http.MethodPost, r.c.base+"/Users", w.body, &w.buf)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return statusError(http.MethodPost, "Users", status, body)
	}
	return nil
}

// patchPool chooses the users the PATCH phase deactivates and reactivates:
// those provisioning created, or, when it did not run in this process, up to
// 1,000 provisioned users looked up by filter (not measured).
func (r *runner) patchPool(ctx context.Context) error {
	r.pool = r.pool[:0]
	for _, id := range r.userIDs {
		if id != "" {
			r.pool = append(r.pool, id)
		}
	}
	if len(r.pool) > 0 {
		return nil
	}
	var buf bytes.Buffer
	n := min(r.o.Users, 1000)
	for k := range n {
		i := k * (r.o.Users / n)
		id, _, err := r.c.lookup(ctx, "Users", "userName", userName(r.o.Seed, i), &buf)
		if err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("user %s not found; provision first with the same -seed and -users", userName(r.o.Seed, i))
		}
		r.pool = append(r.pool, id)
	}
	return nil
}

// patchStep flips a random user's active flag with Entra's PATCH; the
// answer must be 2xx.
func (r *runner) patchStep(ctx context.Context, w *worker) error {
	id := r.pool[w.rng.IntN(len(r.pool))]
	w.body = appendActivePatch(w.body[:0], w.rng.IntN(2) == 0)
	status, body, err := r.c.do(ctx, http.MethodPatch, r.c.base+"/Users/"+id, w.body, &w.buf)
	if err != nil {
		return err
	}
	if !is2xx(status) {
		return statusError(http.MethodPatch, "Users/{id}", status, body)
	}
	return nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func listenLoopback() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/store/azuritetest"
)

// Azure Functions runs several instances of adfscim at once on one Table
// Storage account. These tests run two server processes against one Azurite
// and drive them concurrently, as the Functions front end would.

const multiToken = "two-instances-token-0123456789abcdefghij"

const (
	patchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	enterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// startPair starts two servers that share one fresh Azurite.
func startPair(t *testing.T) []*process {
	t.Helper()
	conn := azuritetest.Start(t)
	env := []string{"TABLES_CONNECTION_STRING=" + conn, "SCIM_BEARER_TOKEN=" + multiToken}
	return []*process{start(t, env...), start(t, env...)}
}

// mustJSON sends a request that must answer want and decodes the answer.
func mustJSON(t *testing.T, p *process, method, path, body string, want int) map[string]any {
	t.Helper()
	status, b, err := request(method, p.url+path, multiToken, body)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %s (%v), want %d", method, path, status, b, err, want)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return m
}

// TestTwoInstancesLoseNothing: 32 clients add distinct members to one group
// through two processes while, at the same time, four clients each set a
// different attribute of every one of those users (and each add touches the
// user's row too). Afterwards every member is present, every user lists the
// group, and every attribute holds the value its writer sent.
func TestTwoInstancesLoseNothing(t *testing.T) {
	procs := startPair(t)
	const clients = 32
	// Each user gets one attribute from each of four different clients.
	attrs := []string{"department", "costCenter", "division", "organization"}

	users := make([]string, clients)
	for i := range users {
		u := mustJSON(t, procs[i%2], "POST", "/Users",
			fmt.Sprintf(`{"userName":"member%02d@contoso.com","active":true}`, i), http.StatusCreated)
		users[i] = u["id"].(string)
	}
	g := mustJSON(t, procs[0], "POST", "/Groups", `{"displayName":"Pipeline Operators"}`, http.StatusCreated)
	gid := g["id"].(string)

	// value is what client c writes into attribute k of a user.
	value := func(c, k int) string { return fmt.Sprintf("client%02d-%s", c, attrs[k]) }
	type failure struct {
		what   string
		status int
		body   string
		err    error
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []failure
		begin    = make(chan struct{})
	)
	send := func(p *process, method, path, body string, want ...int) {
		status, b, err := request(method, p.url+path, multiToken, body)
		if err != nil || !slices.Contains(want, status) {
			mu.Lock()
			failures = append(failures, failure{method + " " + path + " " + body, status, string(b), err})
			mu.Unlock()
		}
	}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			<-begin
			// The membership add goes to one process...
			send(procs[c%2], "PATCH", "/Groups/"+gid,
				fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, patchSchema, users[c]),
				http.StatusNoContent, http.StatusOK)
			// ...and the attribute writes alternate between both.
			for k := range attrs {
				u := (c + k) % clients
				send(procs[(c+k+1)%2], "PATCH", "/Users/"+users[u],
					fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"replace","path":"%s:%s","value":%q}]}`, patchSchema, enterprise, attrs[k], value(c, k)),
					http.StatusOK)
			}
		}(c)
	}
	close(begin)
	wg.Wait()
	for _, f := range failures {
		t.Errorf("%s: %d %s (%v)", f.what, f.status, f.body, f.err)
	}

	// Read back through both processes: the state is shared, not per process.
	for _, p := range procs {
		g := mustJSON(t, p, "GET", "/Groups/"+gid, "", http.StatusOK)
		var got []string
		members, _ := g["members"].([]any)
		for _, m := range members {
			got = append(got, m.(map[string]any)["value"].(string))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(users))
		if !slices.Equal(got, want) {
			t.Errorf("group read through %s has %d members, want all %d: missing %v", p.url, len(got), len(want), missing(want, got))
		}
	}
	for u, id := range users {
		res := mustJSON(t, procs[u%2], "GET", "/Users/"+id, "", http.StatusOK)
		ext, _ := res[enterprise].(map[string]any)
		for k, a := range attrs {
			// Attribute k of user u was written by client (u-k) mod 32.
			if want := value((u-k+clients)%clients, k); ext[a] != want {
				t.Errorf("user %d %s = %v, want %q: an update was lost", u, a, ext[a], want)
			}
		}
		groups, _ := res["groups"].([]any)
		if len(groups) != 1 || groups[0].(map[string]any)["value"] != gid {
			t.Errorf("user %d lists groups %v, want only %s", u, groups, gid)
		}
	}
}

func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

// TestTwoInstancesOneUserName: parallel POSTs of one userName, in different
// case and spread over two processes, create exactly one user; every other
// POST answers 409 uniqueness, and both processes then find that one user.
func TestTwoInstancesOneUserName(t *testing.T) {
	procs := startPair(t)
	names := []string{"alex.wilber@contoso.com", "Alex.Wilber@contoso.com", "ALEX.WILBER@CONTOSO.COM", "alex.wilber@Contoso.com"}
	const posts = 32
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answers := make([]answer, posts)
	var wg sync.WaitGroup
	begin := make(chan struct{})
	for i := 0; i < posts; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-begin
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"active":true}`, names[i%len(names)])
			s, b, err := request("POST", procs[i%2].url+"/Users", multiToken, body)
			answers[i] = answer{s, b, err}
		}(i)
	}
	close(begin)
	wg.Wait()
	created, conflicts := 0, 0
	var createdID string
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("POST %d: %v", i, a.err)
		case a.status == http.StatusCreated:
			created++
			var u struct{ ID string }
			_ = json.Unmarshal(a.body, &u)
			createdID = u.ID
		case a.status == http.StatusConflict:
			var e struct{ ScimType string }
			if err := json.Unmarshal(a.body, &e); err != nil || e.ScimType != "uniqueness" {
				t.Errorf("POST %d: 409 without scimType uniqueness: %s", i, a.body)
			}
			conflicts++
		default:
			t.Errorf("POST %d: %d %s", i, a.status, a.body)
		}
	}
	if created != 1 || conflicts != posts-1 {
		t.Fatalf("%d created, %d conflicts; want 1 and %d", created, conflicts, posts-1)
	}
	for _, p := range procs {
		for _, n := range names {
			list := mustJSON(t, p, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+n+`"`), "", http.StatusOK)
			res, _ := list["Resources"].([]any)
			if list["totalResults"] != float64(1) || len(res) != 1 || res[0].(map[string]any)["id"] != createdID {
				t.Errorf("filter userName eq %q through %s: %v, want the one created user %s", n, p.url, list, createdID)
			}
		}
	}
	all := mustJSON(t, procs[1], "GET", "/Users", "", http.StatusOK)
	if all["totalResults"] != float64(1) {
		t.Errorf("%v users stored, want 1", all["totalResults"])
	}
}

// TestTwoInstancesDeletesRaceAdds: one process adds users to a group while
// the other deletes those users, and then adds race a delete of the group
// itself. Whatever order the requests land in, no membership outlives its
// user or its group: the group ends empty, and no user lists a deleted group.
func TestTwoInstancesDeletesRaceAdds(t *testing.T) {
	procs := startPair(t)
	const n = 16
	add := func(uid string) string {
		return fmt.Sprintf(`{"schemas":[%q],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, patchSchema, uid)
	}
	newUsers := func(prefix string) []string {
		ids := make([]string, n)
		for i := range ids {
			u := mustJSON(t, procs[i%2], "POST", "/Users", fmt.Sprintf(`{"userName":"%s%02d@contoso.com"}`, prefix, i), http.StatusCreated)
			ids[i] = u["id"].(string)
		}
		return ids
	}
	type result struct {
		what   string
		status int
		body   []byte
		err    error
	}
	run := func(reqs []func() result, ok map[string][]int) {
		t.Helper()
		out := make(chan result, len(reqs))
		begin := make(chan struct{})
		for _, r := range reqs {
			go func() { <-begin; out <- r() }()
		}
		close(begin)
		for range reqs {
			r := <-out
			if r.err != nil || !slices.Contains(ok[strings.Fields(r.what)[0]], r.status) {
				t.Errorf("%s: %d %s (%v)", r.what, r.status, r.body, r.err)
			}
		}
	}
	send := func(p *process, method, path, body string) func() result {
		return func() result {
			s, b, err := request(method, p.url+path, multiToken, body)
			return result{method + " " + path, s, b, err}
		}
	}

	// Users deleted while they are being added.
	users := newUsers("leaver")
	g := mustJSON(t, procs[0], "POST", "/Groups", `{"displayName":"Leavers"}`, http.StatusCreated)["id"].(string)
	var reqs []func() result
	for i, uid := range users {
		reqs = append(reqs,
			send(procs[i%2], "PATCH", "/Groups/"+g, add(uid)),
			send(procs[(i+1)%2], "DELETE", "/Users/"+uid, ""))
	}
	// An add that lands after the delete names an unknown user: 400.
	run(reqs, map[string][]int{"PATCH": {http.StatusNoContent, http.StatusBadRequest}, "DELETE": {http.StatusNoContent}})
	for _, p := range procs {
		if m, _ := mustJSON(t, p, "GET", "/Groups/"+g, "", http.StatusOK)["members"].([]any); len(m) != 0 {
			t.Errorf("group lists %d members whose users were all deleted", len(m))
		}
	}

	// A group deleted while members are being added to it.
	users = newUsers("joiner")
	g = mustJSON(t, procs[0], "POST", "/Groups", `{"displayName":"Short-lived"}`, http.StatusCreated)["id"].(string)
	reqs = nil
	for i, uid := range users {
		reqs = append(reqs, send(procs[i%2], "PATCH", "/Groups/"+g, add(uid)))
		if i == n/2 {
			reqs = append(reqs, send(procs[(i+1)%2], "DELETE", "/Groups/"+g, ""))
		}
	}
	run(reqs, map[string][]int{"PATCH": {http.StatusNoContent, http.StatusNotFound}, "DELETE": {http.StatusNoContent}})
	mustJSON(t, procs[1], "GET", "/Groups/"+g, "", http.StatusNotFound)
	for i, uid := range users {
		if gs, _ := mustJSON(t, procs[i%2], "GET", "/Users/"+uid, "", http.StatusOK)["groups"].([]any); len(gs) != 0 {
			t.Errorf("user %d lists groups %v after its only group was deleted", i, gs)
		}
	}
}

package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/store"
)

// TestConcurrentMembershipAndUserPatches: IdPs send many requests at once
// (Entra at 25+ per second). 32 connections add distinct members to one
// group while 32 others patch the attributes of those same users (each
// membership add also marks the user row, so the two kinds of write
// contend). Every request must succeed without the client retrying, every
// member must be there and no attribute update may be lost.
func TestConcurrentMembershipAndUserPatches(t *testing.T) {
	const (
		workers    = 32
		perWorker  = 2 // members each adder adds, one PATCH each
		patchesPer = 4 // sequential PATCHes per user and connection
	)
	e := newEnv(t)
	ids := e.createUsers(t, "conc", workers*perWorker)
	r := e.do("POST", "/scim/v2/Groups", `{"displayName":"contended"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		errs = append(errs, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// Each request names its expected outcome; a non-2xx is a failure.
	writes := len(ids) + 1 // the creates above
	do := func(method, path, body string) {
		status, b, err := e.send(method, path, body)
		if err != nil {
			fail("%s %s: %v", method, path, err)
		} else if status/100 != 2 {
			fail("%s %s: %d %s", method, path, status, b)
		} else {
			mu.Lock()
			writes++
			mu.Unlock()
		}
	}
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		// An adder: Entra's and Okta's ways of adding one member.
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for k := 0; k < perWorker; k++ {
				uid := ids[w*perWorker+k]
				op := `{"op":"Add","path":"members","value":[{"value":"` + uid + `"}]}`
				if k%2 == 1 {
					op = `{"op":"add","path":"members","value":[{"value":"` + uid + `","display":"m"}]}`
				}
				do("PATCH", "/scim/v2/Groups/"+gid, ops(op))
			}
		}(w)
		// A patcher: attributes of the users adder w adds (title,
		// nickName, active) and of those adder w+1 adds (givenName,
		// department), so every user is also patched by two connections
		// at once, on different attributes.
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			next := (w + 1) % workers
			for p := 0; p < patchesPer; p++ {
				for k := 0; k < perWorker; k++ {
					uid := ids[w*perWorker+k]
					v := "v" + strconv.Itoa(p) + "-" + uid
					if p%2 == 0 {
						do("PATCH", "/scim/v2/Users/"+uid, ops(`{"op":"Replace","path":"title","value":"`+v+`"}`))
					} else {
						do("PATCH", "/scim/v2/Users/"+uid, ops(`{"op":"Replace","path":"nickName","value":"`+v+`"}`, `{"op":"Replace","path":"active","value":"False"}`))
					}
					other := ids[next*perWorker+k]
					ov := "v" + strconv.Itoa(p) + "-" + other
					do("PATCH", "/scim/v2/Users/"+other, ops(`{"op":"replace","value":{"name.givenName":"`+ov+`","`+enterpriseURN+`:department":"`+ov+`"}}`))
				}
			}
		}(w)
	}
	close(start)
	wg.Wait()
	for _, msg := range errs {
		t.Error(msg)
	}

	got := memberIDs(t, e.do("GET", "/scim/v2/Groups/"+gid, "").json(t))
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		missing := 0
		have := map[string]bool{}
		for _, id := range got {
			have[id] = true
		}
		for _, id := range want {
			if !have[id] {
				missing++
			}
		}
		t.Errorf("the group has %d members, %d missing; want all %d", len(got), missing, len(want))
	}
	// last returns the value prefix of the last PATCH of a given parity
	// (-1: any), each user's PATCHes being sequential per connection.
	last := func(parity int) string {
		for p := patchesPer - 1; p >= 0; p-- {
			if parity < 0 || p%2 == parity {
				return "v" + strconv.Itoa(p) + "-"
			}
		}
		return ""
	}
	for _, uid := range ids {
		u := e.do("GET", "/scim/v2/Users/"+uid, "").json(t)
		for _, c := range []struct {
			want any
			path []string
		}{
			{last(0) + uid, []string{"title"}},
			{last(1) + uid, []string{"nickName"}},
			{last(-1) + uid, []string{"name", "givenName"}},
			{last(-1) + uid, []string{enterpriseURN, "department"}},
			{false, []string{"active"}},
		} {
			if got := at(u, c.path...); got != c.want {
				t.Errorf("user %s: %s = %v, want %v (an update was lost)", uid, strings.Join(c.path, "."), got, c.want)
			}
		}
		if gs, _ := u["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["value"] != gid {
			t.Errorf("user %s: groups = %v, want [%s]", uid, u["groups"], gid)
		}
	}
	// Every write is in the audit trail once, after the service's start
	// record, and the chain holds.
	res, err := audit.Verify(context.Background(), e.st, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != startRecords+writes {
		t.Errorf("audit trail: ok %v, %d records for %d writes; break %v", res.OK, res.Records, writes, res.Break)
	}
}

// TestConcurrentRetriesOfOneCreate: an IdP that times out re-sends its
// POST, and Entra runs several workers per tenant, so the same userName or
// group displayName can arrive many times at once, in different cases.
// Exactly one request creates; every other one is 409 uniqueness.
func TestConcurrentRetriesOfOneCreate(t *testing.T) {
	for _, tc := range []struct {
		typ, attr, value string
	}{
		{"Users", "userName", "retried@contoso.com"},
		{"Groups", "displayName", "Retried Group"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			e := newEnv(t)
			const n = 16
			statuses := make([]int, n)
			bodies := make([][]byte, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				v := tc.value
				if i%2 == 1 {
					v = strings.ToUpper(v)
				}
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					var err error
					statuses[i], bodies[i], err = e.send("POST", "/scim/v2/"+tc.typ, `{"`+tc.attr+`":"`+v+`","externalId":"x-`+strconv.Itoa(i)+`"}`)
					if err != nil {
						statuses[i] = -1
						bodies[i] = []byte(err.Error())
					}
				}(i)
			}
			close(start)
			wg.Wait()
			created := 0
			for i, st := range statuses {
				switch st {
				case http.StatusCreated:
					created++
				case http.StatusConflict:
					if !strings.Contains(string(bodies[i]), `"scimType":"uniqueness"`) {
						t.Errorf("409 without scimType uniqueness: %s", bodies[i])
					}
				default:
					t.Errorf("request %d: %d %s, want 201 or 409", i, st, bodies[i])
				}
			}
			if created != 1 {
				t.Errorf("%d requests created the resource, want exactly 1", created)
			}
			wantList(t, e.do("GET", "/scim/v2/"+tc.typ+"?"+filterQuery(tc.attr+` eq "`+tc.value+`"`), ""), 1)
			wantList(t, e.do("GET", "/scim/v2/"+tc.typ, ""), 1)
		})
	}
}

// TestConcurrentDeleteAndMembershipAdd: a leaver is deleted while a group
// PATCH adds the same user. Whichever wins, no group may keep a member
// that is no user: that dangling row would grant a deleted person access.
func TestConcurrentDeleteAndMembershipAdd(t *testing.T) {
	e := newEnv(t)
	const n = 24
	ids := e.createUsers(t, "leaver", n)
	r := e.do("POST", "/scim/v2/Groups", `{"displayName":"g"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		errs           []string
		added, refused int
	)
	start := make(chan struct{})
	for _, uid := range ids {
		wg.Add(2)
		go func(uid string) {
			defer wg.Done()
			<-start
			st, b, err := e.send("DELETE", "/scim/v2/Users/"+uid, "")
			if err != nil || st != http.StatusNoContent {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("DELETE %s: %d %s %v", uid, st, b, err))
				mu.Unlock()
			}
		}(uid)
		go func(uid string) {
			defer wg.Done()
			<-start
			st, b, err := e.send("PATCH", "/scim/v2/Groups/"+gid, ops(`{"op":"Add","path":"members","value":[{"value":"`+uid+`"}]}`))
			// 204 when the add came first (the delete then removes the
			// membership), 400 naming the user when the delete came first.
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && st == http.StatusNoContent:
				added++
			case err == nil && st == http.StatusBadRequest && strings.Contains(string(b), uid):
				refused++
			default:
				errs = append(errs, fmt.Sprintf("PATCH add %s: %d %s %v", uid, st, b, err))
			}
		}(uid)
	}
	close(start)
	wg.Wait()
	for _, msg := range errs {
		t.Error(msg)
	}
	t.Logf("adds first: %d, deletes first: %d", added, refused)
	if ms := memberIDs(t, e.do("GET", "/scim/v2/Groups/"+gid, "").json(t)); len(ms) != 0 {
		t.Errorf("the group keeps %d deleted users as members: %v", len(ms), ms)
	}
	wantList(t, e.do("GET", "/scim/v2/Users", ""), 0)
	// No membership row of any kind survives in the store.
	if err := e.st.Scan(context.Background(), directory.Table, func(en store.Entity) error {
		for _, uid := range ids {
			if strings.Contains(en.RowKey, uid) {
				t.Errorf("row %q survives the deletion of %s", en.RowKey, uid)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

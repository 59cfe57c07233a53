package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// memberRowPrefix is how the directory keys a group's membership rows
// (internal/directory/layout.go). A test below checks that reading a group
// with its members does read such rows, so a change of layout fails loudly
// instead of making the zero counts meaningless.
const memberRowPrefix = "M|"

// cost is what a request cost the store: its calls (each one a billed
// transaction on Table Storage), the membership rows among the rows read,
// and, on Table Storage, the transactions billed.
type cost struct {
	enginetest.Counts
	billed tables.Counts
}

// newCountingEnv is the service on a store that counts what reaches it;
// membership rows read count as Marked.
func newCountingEnv(t *testing.T) (*env, *enginetest.Counting) {
	t.Helper()
	cs := enginetest.OpenCounting(t)
	cs.Mark = func(table string, e store.Entity) bool {
		return table == directory.Table && strings.HasPrefix(e.RowKey, memberRowPrefix)
	}
	return newEnvWith(t, envOptions{store: cs}), cs
}

// measure returns what fn cost the whole store.
func measure(cs *enginetest.Counting, fn func()) cost {
	billed := cs.Billed()
	c := cs.Measure(fn)
	return cost{c, cs.Billed().Sub(billed)}
}

// TestGroupRequestsDoNotScaleWithMembers: Entra reads groups with
// excludedAttributes=members and changes them one member at a time. Those
// requests must not read the membership rows, and a group of 300 members
// must cost exactly what a group of 5 costs to change.
func TestGroupRequestsDoNotScaleWithMembers(t *testing.T) {
	e, cs := newCountingEnv(t)
	const large = 300
	ids := e.createUsers(t, "cost", large+2)
	newcomer, other := ids[large], ids[large+1]
	groups := map[string]string{}
	for name, n := range map[string]int{"small": 5, "large": large} {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":"` + ids[i] + `"}`)
		}
		r := e.do("POST", "/scim/v2/Groups", `{"displayName":"`+name+`","members":[`+b.String()+`]}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %.200s", name, r.status, r.body)
		}
		groups[name] = r.json(t)["id"].(string)
	}

	// Positive control: a full read does read the membership rows.
	full := measure(cs, func() { e.do("GET", "/scim/v2/Groups/"+groups["large"], "") })
	if full.Marked < large {
		t.Fatalf("a full read of the large group read %d membership rows, want >= %d: the row layout changed, update memberRowPrefix", full.Marked, large)
	}
	t.Logf("GET group of %d members with members: %d store calls", large, full.Calls())

	requests := []struct {
		name, method, path, body string
		status                   int
	}{
		{"GET excludedAttributes=members", "GET", "/scim/v2/Groups/{g}?excludedAttributes=members", "", 200},
		{"filter displayName without members", "GET", "/scim/v2/Groups?" + filterQuery(`displayName eq "{name}"`, "excludedAttributes=members"), "", 200},
		{"Add one member", "PATCH", "/scim/v2/Groups/{g}", ops(`{"op":"Add","path":"members","value":[{"value":"` + newcomer + `"}]}`), 204},
		{"Entra remove one member", "PATCH", "/scim/v2/Groups/{g}", ops(`{"op":"Remove","path":"members","value":[{"value":"` + newcomer + `"}]}`), 204},
		{"add then remove by value filter", "PATCH", "/scim/v2/Groups/{g}", ops(`{"op":"add","path":"members","value":[{"value":"`+other+`"}]}`, `{"op":"remove","path":"members[value eq \"`+ids[1]+`\"]"}`), 204},
		{"rename", "PATCH", "/scim/v2/Groups/{g}", ops(`{"op":"Replace","path":"displayName","value":"{name} renamed"}`), 204},
		{"rename back and add a member", "PATCH", "/scim/v2/Groups/{g}", ops(`{"op":"Replace","path":"displayName","value":"{name}"}`, `{"op":"Add","path":"members","value":[{"value":"`+ids[1]+`"}]}`), 204},
	}
	for _, rq := range requests {
		t.Run(rq.name, func(t *testing.T) {
			costs := map[string]cost{}
			for _, name := range []string{"small", "large"} {
				expand := strings.NewReplacer("{g}", groups[name], "{name}", name)
				costs[name] = measure(cs, func() {
					r := e.with(t).do(rq.method, expand.Replace(rq.path), expand.Replace(rq.body))
					if r.status != rq.status {
						t.Fatalf("%s: %d %.300s, want %d", name, r.status, r.body, rq.status)
					}
				})
				if costs[name].Marked != 0 {
					t.Errorf("%s group: read %d membership rows, want none", name, costs[name].Marked)
				}
			}
			if costs["small"] != costs["large"] {
				t.Errorf("cost with 5 members %+v, with %d members %+v: want equal", costs["small"], large, costs["large"])
			}
			t.Logf("%+v", costs["large"])
		})
	}
}

// TestIdPLookupsAreIndexLookups: the filters Entra and Okta send before
// every create (userName, externalId, id with eq, alone or under and) read
// a few rows, never the whole directory.
func TestIdPLookupsAreIndexLookups(t *testing.T) {
	e, cs := newCountingEnv(t)
	const n = 200
	ids := e.createUsers(t, "look", n)
	target := ids[n/2]
	r := e.do("PATCH", "/scim/v2/Users/"+target, ops(`{"op":"Replace","path":"externalId","value":"ext-target"}`))
	if r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		filter string
		total  int
	}{
		{`userName eq "look-100@contoso.com"`, 1},
		{`userName eq "LOOK-100@CONTOSO.COM"`, 1},
		{`userName eq "` + newGUID() + `"`, 0},
		{`externalId eq "ext-target"`, 1},
		{`id eq "` + target + `"`, 1},
		{`externalId eq "ext-target" and userName eq "look-100@contoso.com"`, 1},
		{`userName eq "look-100@contoso.com" and active eq false`, 0},
		{`userName eq "look-100@contoso.com" and (title pr or not (title pr))`, 1},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			c := cs.Measure(func() {
				wantList(t, e.with(t).do("GET", "/scim/v2/Users?"+filterQuery(tc.filter, "startIndex=1", "count=100"), ""), tc.total)
			}, directory.Table)
			if c.Scans != 0 || c.Rows > 4 {
				t.Errorf("the lookup read %d rows in %d scans among %d users: not an index lookup", c.Rows, c.Scans, n)
			}
		})
	}
	// Positive control: a filter no index answers reads every user.
	c := cs.Measure(func() {
		wantList(t, e.do("GET", "/scim/v2/Users?"+filterQuery(`title pr`), ""), 0)
	}, directory.Table)
	if c.Rows < n {
		t.Errorf("a filter on title read %d rows, want >= %d: the counting store misses reads", c.Rows, n)
	}
}

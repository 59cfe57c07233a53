package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// This file holds what the IdP tests share: a runner for sequences of HTTP
// requests whose ids are the ones this server returned, and readers for
// the resulting state.

// with returns a view of e whose failures go to t, so that a sub-test can
// use an env made by its parent. The view shares e's server and store.
func (e *env) with(t *testing.T) *env {
	return &env{t: t, srv: e.srv, st: e.st, logs: e.logs, app: e.app, tokens: e.tokens}
}

// call is one HTTP request of a sequence. In path and body, {name} is
// replaced by the id saved under name by an earlier call (or by seq.set).
type call struct {
	name    string
	method  string
	path    string
	body    string
	headers []string
	// status is the status wanted; 0 accepts any 2xx.
	status int
	// save keeps the response's "id" under this name.
	save string
	// check, when set, inspects the response and the state afterwards.
	check func(t *testing.T, s *seq, r resp)
}

// seq runs calls against one env and remembers the ids they returned.
type seq struct {
	e   *env
	ids map[string]string
}

func newSeq(e *env) *seq { return &seq{e: e, ids: map[string]string{}} }

func (s *seq) set(name, id string) { s.ids[name] = id }

// id returns the id saved under name.
func (s *seq) id(t *testing.T, name string) string {
	t.Helper()
	id, ok := s.ids[name]
	if !ok {
		t.Fatalf("no id saved under %q", name)
	}
	return id
}

// expand replaces every {name} whose name is saved.
func (s *seq) expand(text string) string {
	for k, v := range s.ids {
		text = strings.ReplaceAll(text, "{"+k+"}", v)
	}
	return text
}

// run performs the calls in order, each as a sub-test; a failed call stops
// the sequence, since later calls depend on its result.
func (s *seq) run(t *testing.T, calls []call) {
	t.Helper()
	for i, c := range calls {
		ok := t.Run(fmt.Sprintf("%02d %s", i+1, c.name), func(t *testing.T) {
			r := s.e.with(t).do(c.method, s.expand(c.path), s.expand(c.body), c.headers...)
			switch {
			case c.status == 0 && (r.status < 200 || r.status > 299):
				t.Fatalf("%s %s: status %d, want 2xx; body %s", c.method, c.path, r.status, r.body)
			case c.status != 0 && r.status != c.status:
				t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, r.status, c.status, r.body)
			}
			if c.save != "" {
				id, _ := r.json(t)["id"].(string)
				if id == "" {
					t.Fatalf("no id in the response: %s", r.body)
				}
				s.ids[c.save] = id
			}
			if c.check != nil {
				c.check(t, s, r)
			}
		})
		if !ok {
			t.Fatalf("call %d (%s) failed; the rest of the sequence depends on it", i+1, c.name)
		}
	}
}

// get reads a resource ("Users" or "Groups") by the id saved under name.
func (s *seq) get(t *testing.T, typ, name string, query ...string) map[string]any {
	t.Helper()
	path := "/scim/v2/" + typ + "/" + s.id(t, name)
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	r := s.e.with(t).do("GET", path, "")
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.json(t)
}

func (s *seq) user(t *testing.T, name string) map[string]any {
	t.Helper()
	return s.get(t, "Users", name)
}

// members returns the sorted member ids of the group saved under name.
func (s *seq) members(t *testing.T, name string) []string {
	t.Helper()
	return memberIDs(t, s.get(t, "Groups", name))
}

func memberIDs(t *testing.T, g map[string]any) []string {
	t.Helper()
	ms, _ := g["members"].([]any)
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		v, _ := m.(map[string]any)["value"].(string)
		ids = append(ids, v)
	}
	sort.Strings(ids)
	return ids
}

// wantMembers checks that the group saved under group has exactly the
// users saved under names as members.
func (s *seq) wantMembers(t *testing.T, group string, names ...string) {
	t.Helper()
	want := make([]string, 0, len(names))
	for _, n := range names {
		want = append(want, s.id(t, n))
	}
	sort.Strings(want)
	got := s.members(t, group)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("members of %s = %v, want %v (%v)", group, got, want, names)
	}
}

// at walks nested objects: at(m, "name", "givenName").
func at(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

// wantAt checks one attribute of a resource.
func wantAt(t *testing.T, m map[string]any, want any, keys ...string) {
	t.Helper()
	if got := at(m, keys...); fmt.Sprint(got) != fmt.Sprint(want) || (got == nil) != (want == nil) {
		t.Errorf("%s = %v (%T), want %v (%T)", strings.Join(keys, "."), got, got, want, want)
	}
}

// email returns the value of the email of the given type, or nil.
func email(m map[string]any, typ string) any {
	es, _ := m["emails"].([]any)
	for _, e := range es {
		if o, _ := e.(map[string]any); o["type"] == typ {
			return o["value"]
		}
	}
	return nil
}

// filterQuery is a list query as IdPs send it, query-escaped.
func filterQuery(filter string, extra ...string) string {
	q := "filter=" + url.QueryEscape(filter)
	for _, x := range extra {
		q += "&" + x
	}
	return q
}

// wantList checks a ListResponse: its status, that Resources is always an
// array, and totalResults; it returns the resources.
func wantList(t *testing.T, r resp, total int) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("list: status %d, want 200; body %s", r.status, r.body)
	}
	m := r.json(t)
	if m["totalResults"] != float64(total) {
		t.Errorf("totalResults = %v, want %d", m["totalResults"], total)
	}
	raw, ok := m["Resources"].([]any)
	if !ok {
		t.Fatalf("Resources is %T, want an array: %s", m["Resources"], r.body)
	}
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		out = append(out, x.(map[string]any))
	}
	return out
}

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// newGUID is what Entra's Test Connection filters on.
func newGUID() string { return uuid.NewString() }

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

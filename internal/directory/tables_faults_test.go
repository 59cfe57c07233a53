package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/enginetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// These tests break the N-th storage request of a multi-step write, for
// every N the write makes, on Table Storage (Azurite) with the engine's own
// fault injection. The engine runs without retries here, so one injected
// fault is one failed storage request: either never applied (503) or
// applied with its answer lost (a dropped connection), the two outcomes a
// client of Table Storage cannot tell apart.

const faultToken = "fault-injection-token-0123456789abcdef"

var faultPrefixes atomic.Int64

// faultEnv is the SCIM API over a Table Storage engine with fault injection.
type faultEnv struct {
	st     *tables.Store
	dir    *directory.Service
	faults *tables.Faults
	url    string
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	conn := azuritetest.Shared(t)
	faults := new(tables.Faults)
	prefix := fmt.Sprintf("f%dx%d", os.Getpid(), faultPrefixes.Add(1))
	st, err := tables.Open(context.Background(), tables.Options{
		ConnectionString: conn,
		TablePrefix:      prefix,
		Tables:           []string{directory.Table},
		// No retries: each injected fault fails one storage request.
		Retry:            policy.RetryOptions{MaxRetries: -1},
		PerRetryPolicies: []policy.Policy{faults},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rest of the service (audit trail, access queue, tokens) on an
	// engine of its own without faults: the faults hit the directory's
	// requests alone, and the service is built as serve builds it.
	rest, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, TablePrefix: prefix, Tables: deploy.Tables()})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"TABLES_CONNECTION_STRING": conn,
		"SCIM_BEARER_TOKEN":        faultToken,
		"ADFSCIM_DATA_DIR":         t.TempDir(),
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Store: enginetest.Split(rest, map[string]store.Store{directory.Table: st})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); _ = a.Close(); _ = st.Close(); _ = rest.Close() })
	return &faultEnv{st: st, dir: a.Directory, faults: faults, url: srv.URL + handlers.ScimPrefix}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (e *faultEnv) do(t *testing.T, method, path, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+faultToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, b}
}

func (e *faultEnv) users(t *testing.T, n int) []string {
	t.Helper()
	return createUsers(t, e.dir, n)
}

// memberList renders ids as a SCIM members array.
func memberList(ids []string) string {
	b, _ := json.Marshal(toAny(ids))
	return string(b)
}

// groupMembers reads a group's member ids through the API (nil when the
// group does not exist).
func (e *faultEnv) groupMembers(t *testing.T, gid string) []string {
	t.Helper()
	a := e.do(t, "GET", "/Groups/"+gid, "")
	if a.status == http.StatusNotFound {
		return nil
	}
	if a.status != http.StatusOK {
		t.Fatalf("GET group: %d %s", a.status, a.body)
	}
	var g struct{ Members []struct{ Value string } }
	if err := json.Unmarshal(a.body, &g); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, m := range g.Members {
		ids = append(ids, m.Value)
	}
	slices.Sort(ids)
	return ids
}

// filterIDs returns the ids a filter finds.
func (e *faultEnv) filterIDs(t *testing.T, endpoint, filter string) []string {
	t.Helper()
	a := e.do(t, "GET", endpoint+"?filter="+url.QueryEscape(filter), "")
	if a.status != http.StatusOK {
		t.Fatalf("filter %s: %d %s", filter, a.status, a.body)
	}
	var l struct{ Resources []struct{ ID string } }
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range l.Resources {
		ids = append(ids, r.ID)
	}
	return ids
}

// checkConsistent reads every row of the directory and checks the
// invariants that later requests rely on: every membership row has its user,
// its group and its reverse row; every reverse row has its membership row;
// every uniqueness index row points to the resource that holds the name, and
// every resource is reachable through its index; every externalId row points
// to a resource.
func checkConsistent(t *testing.T, st store.Store) {
	t.Helper()
	rows := map[string][]byte{}
	if err := st.Scan(context.Background(), directory.Table, func(e store.Entity) error {
		if e.PartitionKey == directory.Partition {
			rows[e.RowKey] = e.Data
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	has := func(rk string) bool { _, ok := rows[rk]; return ok }
	nameOf := func(data []byte, attr string) string {
		_, body, _ := bytes.Cut(data, []byte("\n"))
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		s, _ := m[attr].(string)
		return s
	}
	for rk, data := range rows {
		parts := strings.Split(rk, "|")
		switch {
		case parts[0] == "M" && len(parts) == 3:
			gid, uid := parts[1], parts[2]
			if !has("G|" + gid) {
				t.Errorf("membership row %s: its group does not exist", rk)
			}
			if !has("U|" + uid) {
				t.Errorf("membership row %s: its user does not exist", rk)
			}
			if !has("U|" + uid + "|" + gid) {
				t.Errorf("membership row %s has no reverse row", rk)
			}
		case parts[0] == "U" && len(parts) == 3:
			if !has("M|" + parts[2] + "|" + parts[1]) {
				t.Errorf("reverse row %s has no membership row", rk)
			}
		case parts[0] == "U" && len(parts) == 2:
			if want := "UN|" + store.EncodeKey(scim.FoldKey(nameOf(data, "userName"))); string(rows[want]) != parts[1] {
				t.Errorf("user %s is not reachable through its userName index %s", parts[1], want)
			}
		case parts[0] == "G" && len(parts) == 2:
			if want := "GN|" + store.EncodeKey(scim.FoldKey(nameOf(data, "displayName"))); string(rows[want]) != parts[1] {
				t.Errorf("group %s is not reachable through its displayName index %s", parts[1], want)
			}
		case parts[0] == "UN" || parts[0] == "GN":
			res := strings.TrimSuffix(parts[0], "N") + "|" + string(data)
			if !has(res) {
				t.Errorf("index row %s points to %s, which does not exist", rk, res)
			}
		case parts[0] == "UE" || parts[0] == "GE":
			if res := strings.TrimSuffix(parts[0], "E") + "|" + parts[len(parts)-1]; !has(res) {
				t.Errorf("externalId row %s points to %s, which does not exist", rk, res)
			}
		}
	}
}

// faultCase is one multi-step write.
type faultCase struct {
	name string
	// setup builds the state the write starts from and returns the request.
	setup func(t *testing.T, e *faultEnv) (method, path, body string, done func(t *testing.T))
	ok    int // the success status
}

func TestFaultsBetweenSteps(t *testing.T) {
	const (
		createMembers = 40 // more than one batch: 3 operations per member
		replaceSize   = 40
		userGroups    = 51 // two batches of relation deletes
		groupMembers  = 60
	)
	cases := []faultCase{
		{
			name: fmt.Sprintf("create a group of %d members", createMembers),
			ok:   http.StatusCreated,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				users := e.users(t, createMembers)
				body := `{"displayName":"Big Group","externalId":"big-ext","members":` + memberList(users) + `}`
				return "POST", "/Groups", body, func(t *testing.T) {
					ids := e.filterIDs(t, "/Groups", `displayName eq "big group"`)
					if len(ids) != 1 {
						t.Fatalf("%d groups named Big Group, want 1", len(ids))
					}
					if got := e.groupMembers(t, ids[0]); !slices.Equal(got, sorted(users)) {
						t.Errorf("the group has %d members, want %d", len(got), len(users))
					}
				}
			},
		},
		{
			name: "create a user",
			ok:   http.StatusCreated,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				return "POST", "/Users", `{"userName":"Lee.Gu@contoso.com","externalId":"lee"}`, func(t *testing.T) {
					if ids := e.filterIDs(t, "/Users", `userName eq "lee.gu@contoso.com"`); len(ids) != 1 {
						t.Errorf("%d users named Lee.Gu, want 1", len(ids))
					}
				}
			},
		},
		{
			name: fmt.Sprintf("add %d members by PATCH", createMembers),
			ok:   http.StatusNoContent,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				users := e.users(t, createMembers)
				gid := createGroup(t, e.dir, "Grow")
				body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":` + memberList(users) + `}]}`
				return "PATCH", "/Groups/" + gid, body, func(t *testing.T) {
					if got := e.groupMembers(t, gid); !slices.Equal(got, sorted(users)) {
						t.Errorf("the group has %d members, want %d", len(got), len(users))
					}
				}
			},
		},
		{
			name: fmt.Sprintf("replace %d of a group's members by %d others", replaceSize, replaceSize),
			ok:   http.StatusOK,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				users := e.users(t, 2*replaceSize)
				g, _, err := e.dir.Create(context.Background(), "Group", map[string]any{"displayName": "Swap", "members": toAny(users[:replaceSize])}, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := users[replaceSize:]
				body := `{"displayName":"Swap","members":` + memberList(want) + `}`
				return "PUT", "/Groups/" + g.ID + "?excludedAttributes=members", body, func(t *testing.T) {
					if got := e.groupMembers(t, g.ID); !slices.Equal(got, sorted(want)) {
						t.Errorf("after the replace the group has %d members, want the %d new ones", len(got), len(want))
					}
				}
			},
		},
		{
			name: fmt.Sprintf("delete a user who is in %d groups", userGroups),
			ok:   http.StatusNoContent,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				uid := e.users(t, 1)[0]
				var gids []string
				for i := 0; i < userGroups; i++ {
					g, _, err := e.dir.Create(context.Background(), "Group", map[string]any{"displayName": fmt.Sprintf("g%02d", i), "members": toAny([]string{uid})}, nil)
					if err != nil {
						t.Fatal(err)
					}
					gids = append(gids, g.ID)
				}
				return "DELETE", "/Users/" + uid, "", func(t *testing.T) {
					if a := e.do(t, "GET", "/Users/"+uid, ""); a.status != http.StatusNotFound {
						t.Errorf("deleted user: GET %d", a.status)
					}
					for _, gid := range gids {
						if got := e.groupMembers(t, gid); len(got) != 0 {
							t.Errorf("group %s still has members %v", gid, got)
						}
					}
					// The name is free again.
					if a := e.do(t, "POST", "/Users", `{"userName":"user00000@contoso.com"}`); a.status != http.StatusCreated {
						t.Errorf("re-create the deleted user's userName: %d %s", a.status, a.body)
					}
				}
			},
		},
		{
			name: fmt.Sprintf("delete a group of %d members", groupMembers),
			ok:   http.StatusNoContent,
			setup: func(t *testing.T, e *faultEnv) (string, string, string, func(*testing.T)) {
				users := e.users(t, groupMembers)
				g, _, err := e.dir.Create(context.Background(), "Group", map[string]any{"displayName": "Doomed", "externalId": "doomed-ext", "members": toAny(users)}, nil)
				if err != nil {
					t.Fatal(err)
				}
				return "DELETE", "/Groups/" + g.ID, "", func(t *testing.T) {
					if got := e.groupMembers(t, g.ID); got != nil {
						t.Errorf("deleted group still answers with members %v", got)
					}
					if ids := e.filterIDs(t, "/Groups", `externalId eq "doomed-ext"`); len(ids) != 0 {
						t.Errorf("externalId still finds %v", ids)
					}
					// The name is free again.
					if a := e.do(t, "POST", "/Groups", `{"displayName":"doomed"}`); a.status != http.StatusCreated {
						t.Errorf("re-create the deleted group's displayName: %d %s", a.status, a.body)
					}
				}
			},
		},
	}
	modes := []struct {
		name string
		mode tables.FaultMode
		// outage fails every request from the N-th on until the answer,
		// the clean-up included.
		outage bool
	}{
		{"not applied (503)", tables.Fault503, false},
		{"applied, answer lost", tables.FaultDropResponse, false},
		{"storage down from then on", tables.Fault503, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A clean run measures how many storage requests the write makes.
			e := newFaultEnv(t)
			method, path, body, done := tc.setup(t, e)
			before := e.faults.Seen()
			if a := e.do(t, method, path, body); a.status != tc.ok {
				t.Fatalf("without faults: %d %s", a.status, a.body)
			}
			steps := e.faults.Seen() - before
			done(t)
			checkConsistent(t, e.st)
			t.Logf("%s makes %d storage requests", tc.name, steps)

			for _, m := range modes {
				for n := 1; n <= steps; n++ {
					t.Run(fmt.Sprintf("%s at request %d of %d", m.name, n, steps), func(t *testing.T) {
						e := newFaultEnv(t)
						method, path, body, done := tc.setup(t, e)
						e.faults.FailNth(n, m.mode)
						for i := 1; m.outage && i < 200; i++ {
							e.faults.FailNth(n+i, m.mode)
						}
						a := e.do(t, method, path, body)
						e.faults.Reset()
						if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
							t.Fatalf("with request %d failing: %d (Retry-After %q) %s; want 503 with Retry-After",
								n, a.status, a.header.Get("Retry-After"), a.body)
						}
						var se struct {
							Schemas []string
							Status  string
						}
						if err := json.Unmarshal(a.body, &se); err != nil || !slices.Contains(se.Schemas, scim.SchemaError) || se.Status != "503" {
							t.Errorf("503 answer is not a SCIM error: %s", a.body)
						}
						checkConsistent(t, e.st)
						// The identity provider sends the same request again.
						a = e.do(t, method, path, body)
						gone := method == "DELETE" && a.status == http.StatusNotFound && m.mode == tables.FaultDropResponse
						// After an outage a create whose clean-up failed
						// too leaves the group with the members written so
						// far; the same POST then meets it (409), and the
						// provider finds it by displayName and patches it.
						leftover := method == "POST" && m.outage && a.status == http.StatusConflict
						if leftover {
							return
						}
						if a.status != tc.ok && !gone {
							t.Fatalf("retry after the fault: %d %s, want %d", a.status, a.body, tc.ok)
						}
						checkConsistent(t, e.st)
						done(t)
					})
				}
			}
		})
	}
}

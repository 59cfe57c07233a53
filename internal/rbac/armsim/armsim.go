// Package armsim is a simulated Azure Resource Manager for role assignments:
// the armauthorization SDK's own fake server (fake.RoleAssignmentsServer),
// backed by a store.Store so that assignments persist across restarts. It is
// the local default when no Azure is configured, and the ARM of the tests.
//
// It keeps the rules the reconciler depends on: one assignment per (scope,
// principal, role) — a second create is 409 RoleAssignmentExists; deleting a
// missing assignment is 204; lists are paged; the atScope() filter returns
// assignments at the scope and above; principalId eq '…' filters by principal.
package armsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/adfscim/adfscim/internal/store"
)

// Options configure the simulator.
type Options struct {
	Store store.Store
	// Table holds the assignments (default "armsim").
	Table string
	// PageSize is the most assignments per list page (default 100).
	PageSize int
	// Latency is added to every call, to imitate ARM (default none); with
	// LatencyJitter, a random extra of up to that much.
	Latency       time.Duration
	LatencyJitter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Faults, when set, makes ARM fail at random as it does (see Faults).
	Faults *Faults
	// RecordCalls keeps a log of the calls carried out (see Calls), for
	// tests; off, a long-running local simulator keeps nothing.
	RecordCalls bool
	// OnExpire, when set, is told of every schedule that ended by itself
	// at its end time, once (tests check that each expiry was noticed).
	OnExpire func(Schedule)
}

// Sim is the simulated ARM.
type Sim struct {
	o  Options
	st *state
}

// Handler serves the simulator over HTTP (give it to httptest.NewTLSServer
// and the ARM client a cloud.Configuration naming the server): the real wire
// protocol, faults included.
func (s *Sim) Handler() http.Handler {
	t := s.Transport()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(armError("AuthenticationFailed", "armsim: no bearer token"))
			return
		}
		r.URL.Scheme, r.URL.Host = "https", r.Host
		// The SDK fake dispatches on the API name the client puts in the
		// request's context; over the wire, the method says it.
		if api := map[string]string{http.MethodPut: "RoleAssignmentsClient.Create", http.MethodDelete: "RoleAssignmentsClient.Delete",
			http.MethodGet: "RoleAssignmentsClient.Get"}[r.Method]; api != "" {
			r = r.WithContext(context.WithValue(r.Context(), runtime.CtxAPINameKey{}, api))
		}
		resp, err := t.Do(r)
		if err != nil {
			if errors.Is(err, ErrLost) {
				// The answer is lost: drop the connection.
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, herr := hj.Hijack(); herr == nil {
						_ = c.Close()
						return
					}
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(armError("InternalServerError", err.Error()))
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Table == "" {
		o.Table = "armsim"
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sim{o: o, st: newState()}
}

// Transport is the azcore transport to give the RoleAssignmentsClient
// (arm.ClientOptions.Transport) so that it talks to the simulator.
//
// Lists are served here, statelessly, with the offset in the nextLink as
// ARM does: the SDK fake keeps one pager per URL path, so two lists of the
// same scope at once (one per principal) would share it and get each
// other's pages. Everything else goes to the SDK fake.
func (s *Sim) Transport() *Transport {
	return &Transport{sim: s, inner: fake.NewRoleAssignmentsServerTransport(s.Server())}
}

// Transport serves the simulator over azcore's Transporter interface.
type Transport struct {
	sim   *Sim
	inner *fake.RoleAssignmentsServerTransport
}

const listSuffix = "/providers/microsoft.authorization/roleassignments"

// Do serves one request, failing it first when Options.Faults says so,
// holding a write while Hold says so, and logging it as a Call.
func (t *Transport) Do(req *http.Request) (*http.Response, error) {
	received := time.Now()
	t.sim.arrive()
	defer t.sim.leave()
	if f := t.sim.o.Faults; f != nil {
		switch fault := f.pick(req); fault {
		case "429":
			return f.throttled(req)
		case "500":
			return jsonResponse(req, http.StatusInternalServerError, armError("InternalServerError", "armsim: injected"))
		case "timeout":
			// Over HTTP, the server notices the client hanging up only once
			// the body is read.
			if req.Body != nil {
				_, _ = io.Copy(io.Discard, req.Body)
			}
			return nil, t.sim.hang(req.Context())
		case "lost":
			if resp, err := t.carryOut(req, received); err == nil {
				resp.Body.Close()
			}
			return nil, ErrLost
		}
	}
	return t.carryOut(req, received)
}

// carryOut serves a request that no fault stopped and logs it.
func (t *Transport) carryOut(req *http.Request, received time.Time) (*http.Response, error) {
	if req.Method == http.MethodPut || req.Method == http.MethodDelete {
		if err := t.sim.hold(req.Context()); err != nil {
			return nil, err
		}
	}
	ctx, n := withNote(req.Context())
	resp, err := t.do(req.WithContext(ctx))
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode != 0 {
		// The SDK fake hands an error answer (409, 404, 400) over as a Go
		// error: answer it as ARM does, status and error body, so that it
		// crosses the wire as it is (not as a 500).
		resp, err = jsonResponse(req, re.StatusCode, armError(re.ErrorCode, "armsim: "+http.StatusText(re.StatusCode)))
	}
	if err != nil {
		return nil, err
	}
	t.sim.record(Call{Received: received, Done: time.Now(), Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode,
		Principal: n.principal, Changed: n.changed})
	return resp, nil
}

func (t *Transport) do(req *http.Request) (*http.Response, error) {
	if resp, ok, err := t.serveSchedules(req); ok {
		return resp, err
	}
	path := strings.TrimSuffix(req.URL.Path, "/")
	if req.Method != http.MethodGet || !strings.HasSuffix(strings.ToLower(path), listSuffix) {
		return t.inner.Do(req)
	}
	scope := path[:len(path)-len(listSuffix)]
	q := req.URL.Query()
	all, status, err := t.sim.list(req.Context(), scope, q.Get("$filter"))
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return jsonResponse(req, status, map[string]any{"error": map[string]string{"code": "InvalidFilter", "message": "armsim: unsupported filter"}})
	}
	skip, _ := strconv.Atoi(q.Get("$skipToken"))
	skip = min(max(skip, 0), len(all))
	end := min(skip+t.sim.o.PageSize, len(all))
	page := armauthorization.RoleAssignmentListResult{Value: all[skip:end]}
	if end < len(all) {
		q.Set("$skipToken", strconv.Itoa(end))
		next := *req.URL
		next.RawQuery = q.Encode()
		page.NextLink = to.Ptr(next.String())
	}
	return jsonResponse(req, http.StatusOK, page)
}

func jsonResponse(req *http.Request, status int, v any) (*http.Response, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// Server is the fake server with the simulator's methods.
func (s *Sim) Server() *fake.RoleAssignmentsServer {
	return &fake.RoleAssignmentsServer{
		Create:               s.create,
		Delete:               s.delete,
		Get:                  s.get,
		NewListForScopePager: s.listForScope,
	}
}

type stored struct {
	Scope         string    `json:"scope"`
	Name          string    `json:"name"`
	PrincipalID   string    `json:"principalId"`
	PrincipalType string    `json:"principalType,omitempty"`
	RoleDefID     string    `json:"roleDefinitionId"`
	Description   string    `json:"description,omitempty"`
	CreatedOn     time.Time `json:"createdOn"`
}

func (a stored) model() *armauthorization.RoleAssignment {
	ra := &armauthorization.RoleAssignment{
		ID:   to.Ptr(a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name),
		Name: to.Ptr(a.Name),
		Type: to.Ptr("Microsoft.Authorization/roleAssignments"),
		Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID:      to.Ptr(a.PrincipalID),
			RoleDefinitionID: to.Ptr(a.RoleDefID),
			Scope:            to.Ptr(a.Scope),
			Description:      to.Ptr(a.Description),
			CreatedOn:        to.Ptr(a.CreatedOn),
		},
	}
	if a.PrincipalType != "" {
		ra.Properties.PrincipalType = to.Ptr(armauthorization.PrincipalType(a.PrincipalType))
	}
	return ra
}

var guidRe = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// scopeKey is the partition of a scope: the SDK fake hands the scope over
// without its leading '/', and ARM compares scopes case-insensitively.
func normScope(scope string) string {
	scope = strings.TrimSuffix(scope, "/")
	if !strings.HasPrefix(scope, "/") {
		scope = "/" + scope
	}
	return scope
}

func partition(scope string) string { return store.EncodeKey(strings.ToLower(normScope(scope))) }

func roleGUID(id string) string {
	i := strings.LastIndex(id, "/")
	return strings.ToLower(id[i+1:])
}

func uniqueRow(principal, roleDefID string) string {
	return "x:" + strings.ToLower(principal) + "|" + roleGUID(roleDefID)
}

func (s *Sim) wait(ctx context.Context) error {
	if s.o.Latency <= 0 {
		return nil
	}
	d := s.o.Latency
	if s.o.LatencyJitter > 0 {
		d += rand.N(s.o.LatencyJitter)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Put stores an assignment directly, bypassing the API: tests use it to plant
// assignments "someone else" made.
func (s *Sim) Put(ctx context.Context, scope, name string, p armauthorization.RoleAssignmentProperties) error {
	_, err := s.insert(ctx, scope, name, p)
	return err
}

func (s *Sim) insert(ctx context.Context, scope, name string, p armauthorization.RoleAssignmentProperties) (stored, error) {
	scope = normScope(scope)
	a := stored{Scope: scope, Name: strings.ToLower(name), PrincipalID: strings.ToLower(deref(p.PrincipalID)),
		RoleDefID: deref(p.RoleDefinitionID), Description: deref(p.Description), CreatedOn: s.o.Now().UTC()}
	if p.PrincipalType != nil {
		a.PrincipalType = string(*p.PrincipalType)
	}
	if !guidRe.MatchString(a.Name) || !guidRe.MatchString(a.PrincipalID) || !guidRe.MatchString(roleGUID(a.RoleDefID)) {
		return a, errInvalid
	}
	data, _ := json.Marshal(a)
	pk := partition(scope)
	_, err := s.o.Store.Batch(ctx, s.o.Table, []store.Op{
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: "a:" + a.Name, Data: data}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: uniqueRow(a.PrincipalID, a.RoleDefID), Data: []byte(`"` + a.Name + `"`)}},
	})
	return a, err
}

var errInvalid = errors.New("invalid role assignment")

func (s *Sim) create(ctx context.Context, scope, name string, params armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
	if err := s.wait(ctx); err != nil {
		errResp.SetError(err)
		return
	}
	if params.Properties == nil {
		errResp.SetResponseError(http.StatusBadRequest, "InvalidRoleAssignmentRequest")
		return
	}
	a, err := s.insert(ctx, scope, name, *params.Properties)
	note(ctx, a.PrincipalID, err == nil)
	switch {
	case errors.Is(err, errInvalid):
		errResp.SetResponseError(http.StatusBadRequest, "InvalidRoleAssignmentRequest")
	case store.IsExists(err):
		errResp.SetResponseError(http.StatusConflict, "RoleAssignmentExists")
	case err != nil:
		errResp.SetError(err)
	default:
		resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{RoleAssignment: *a.model()}, nil)
	}
	return
}

func (s *Sim) read(ctx context.Context, scope, name string) (stored, store.Entity, error) {
	e, err := s.o.Store.Get(ctx, s.o.Table, partition(scope), "a:"+strings.ToLower(name))
	if err != nil {
		return stored{}, e, err
	}
	var a stored
	if err := json.Unmarshal(e.Data, &a); err != nil {
		return stored{}, e, fmt.Errorf("armsim: %w", err)
	}
	return a, e, nil
}

func (s *Sim) get(ctx context.Context, scope, name string, _ *armauthorization.RoleAssignmentsClientGetOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientGetResponse], errResp azfake.ErrorResponder) {
	a, _, err := s.read(ctx, scope, name)
	switch {
	case store.IsNotFound(err):
		errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
	case err != nil:
		errResp.SetError(err)
	default:
		resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientGetResponse{RoleAssignment: *a.model()}, nil)
	}
	return
}

func (s *Sim) delete(ctx context.Context, scope, name string, _ *armauthorization.RoleAssignmentsClientDeleteOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientDeleteResponse], errResp azfake.ErrorResponder) {
	if err := s.wait(ctx); err != nil {
		errResp.SetError(err)
		return
	}
	a, e, err := s.read(ctx, scope, name)
	if store.IsNotFound(err) {
		resp.SetResponse(http.StatusNoContent, armauthorization.RoleAssignmentsClientDeleteResponse{}, nil)
		return
	}
	if err != nil {
		errResp.SetError(err)
		return
	}
	pk := partition(scope)
	_, err = s.o.Store.Batch(ctx, s.o.Table, []store.Op{
		{Kind: store.Delete, IfMatch: e.ETag, Entity: store.Entity{PartitionKey: pk, RowKey: e.RowKey}},
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: pk, RowKey: uniqueRow(a.PrincipalID, a.RoleDefID)}},
	})
	note(ctx, a.PrincipalID, err == nil)
	switch {
	case store.IsNotFound(err) || store.IsPrecondition(err):
		resp.SetResponse(http.StatusNoContent, armauthorization.RoleAssignmentsClientDeleteResponse{}, nil)
	case err != nil:
		errResp.SetError(err)
	default:
		resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientDeleteResponse{RoleAssignment: *a.model()}, nil)
	}
	return
}

var principalFilterRe = regexp.MustCompile(`(?i)^\s*(?:principalId\s+eq\s+|assignedTo\()'([0-9a-f-]{36})'\)?\s*$`)

// ancestors returns scope and every scope above it.
func ancestors(scope string) []string {
	parts := strings.Split(strings.Trim(normScope(scope), "/"), "/")
	var out []string
	for n := len(parts); n >= 2; n -= 2 {
		out = append(out, "/"+strings.Join(parts[:n], "/"))
	}
	return out
}

func (s *Sim) listForScope(scope string, opts *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
	filter := ""
	if opts != nil && opts.Filter != nil {
		filter = *opts.Filter
	}
	all, status, err := s.list(context.Background(), scope, filter) // the fake gives pagers no context
	switch {
	case err != nil:
		resp.AddError(err)
		return
	case status != http.StatusOK:
		resp.AddResponseError(status, "InvalidFilter")
		return
	}
	for len(all) > s.o.PageSize {
		resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{RoleAssignmentListResult: armauthorization.RoleAssignmentListResult{Value: all[:s.o.PageSize]}}, nil)
		all = all[s.o.PageSize:]
	}
	resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{RoleAssignmentListResult: armauthorization.RoleAssignmentListResult{Value: all}}, nil)
	return
}

// list returns the assignments at scope and above matching filter (none,
// atScope() or principalId eq '…'), or the HTTP status of a bad filter.
func (s *Sim) list(ctx context.Context, scope, filter string) ([]*armauthorization.RoleAssignment, int, error) {
	if err := s.wait(ctx); err != nil {
		return nil, 0, err
	}
	filter = strings.TrimSpace(filter)
	principal, ok := listPrincipal(filter)
	if !ok {
		return nil, http.StatusBadRequest, nil
	}
	var all []*armauthorization.RoleAssignment
	if filter == "" && isSubscription(scope) {
		return s.subscriptionAssignments(ctx, scope)
	}
	for _, sc := range ancestors(scope) {
		if err := s.expire(ctx, sc); err != nil {
			return nil, 0, err
		}
		rows, err := s.o.Store.List(ctx, s.o.Table, store.Query{PartitionKey: partition(sc), Prefix: "a:"})
		if err != nil {
			return nil, 0, err
		}
		for _, e := range rows {
			var a stored
			if err := json.Unmarshal(e.Data, &a); err != nil {
				return nil, 0, err
			}
			if principal != "" && a.PrincipalID != principal {
				continue
			}
			all = append(all, a.model())
		}
	}
	return all, http.StatusOK, nil
}

// listPrincipal reads a list's $filter: none or atScope() (principal ""),
// or principalId eq '…' (that principal, lower case); ok is false for any
// other filter, which ARM refuses.
func listPrincipal(filter string) (principal string, ok bool) {
	switch {
	case filter == "" || strings.EqualFold(filter, "atScope()"):
		return "", true
	case principalFilterRe.MatchString(filter):
		return strings.ToLower(principalFilterRe.FindStringSubmatch(filter)[1]), true
	}
	return "", false
}

// All returns every stored assignment, for tests and the local ops view.
func (s *Sim) All(ctx context.Context) ([]*armauthorization.RoleAssignment, error) {
	return s.scanAssignments(ctx, func(stored) bool { return true })
}

// scanAssignments returns the stored assignments that keep accepts, in
// every scope.
func (s *Sim) scanAssignments(ctx context.Context, keep func(stored) bool) ([]*armauthorization.RoleAssignment, error) {
	var out []*armauthorization.RoleAssignment
	err := s.o.Store.Scan(ctx, s.o.Table, func(e store.Entity) error {
		if !strings.HasPrefix(e.RowKey, "a:") {
			return nil
		}
		var a stored
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return err
		}
		if keep(a) {
			out = append(out, a.model())
		}
		return nil
	})
	return out, err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func isSubscription(scope string) bool {
	parts := strings.Split(strings.Trim(normScope(scope), "/"), "/")
	return len(parts) == 2 && strings.EqualFold(parts[0], "subscriptions")
}

// subscriptionAssignments is the unfiltered list at a subscription: every
// assignment at it and below, as ARM lists them.
func (s *Sim) subscriptionAssignments(ctx context.Context, scope string) ([]*armauthorization.RoleAssignment, int, error) {
	prefix := strings.ToLower(normScope(scope))
	all, err := s.scanAssignments(ctx, func(a stored) bool {
		sc := strings.ToLower(a.Scope)
		return sc == prefix || strings.HasPrefix(sc, prefix+"/")
	})
	return all, http.StatusOK, err
}

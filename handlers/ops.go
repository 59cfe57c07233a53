package handlers

import (
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

// OpsPrefix is the base path of the operations API (/admin is reserved by
// the Functions host).
const OpsPrefix = "/ops/v1"

// opsRoute is one operations endpoint.
type opsRoute struct {
	method  string
	scope   tokens.Scope
	handler http.HandlerFunc
}

// opsRoutes lists the operations endpoints by their path under /ops/v1,
// each with the methods it answers.
func (s *Server) opsRoutes() map[string][]opsRoute {
	routes := map[string][]opsRoute{
		"unknown-attributes": {{http.MethodGet, tokens.OpsRead, s.unknownAttributes}},
	}
	if s.opts.RBAC != nil {
		routes["plan"] = []opsRoute{{http.MethodGet, tokens.OpsRead, s.plan}}
		routes["assignments"] = []opsRoute{{http.MethodGet, tokens.OpsRead, s.assignments}}
		routes["reconcile"] = []opsRoute{{http.MethodPost, tokens.OpsWrite, s.reconcile}}
	}
	if s.opts.Report != nil {
		routes["report"] = []opsRoute{{http.MethodGet, tokens.OpsRead, s.accessReport}}
	}
	if s.opts.Review != nil {
		routes["review"] = []opsRoute{{http.MethodGet, tokens.OpsRead, s.reviewSheet}}
		if s.opts.Audit != nil {
			routes["review"] = append(routes["review"], opsRoute{http.MethodPost, tokens.OpsWrite, s.completeReview})
		}
	}
	if s.opts.AuditQuery != nil {
		routes["audit"] = []opsRoute{{http.MethodGet, tokens.OpsRead, s.auditQuery}}
	}
	return routes
}

// ops dispatches /ops/v1/{name}.
func (s *Server) ops(w http.ResponseWriter, r *http.Request) {
	name := strings.Trim(r.URL.Path[len(OpsPrefix):], "/")
	routes, ok := s.routes[strings.ToLower(name)]
	if !ok {
		infoFrom(r.Context()).route = "other"
		writeError(w, r, errNotFoundRoute(r.URL.Path))
		return
	}
	infoFrom(r.Context()).route = OpsPrefix + "/" + name
	var route *opsRoute
	allow := make([]string, 0, len(routes))
	for i := range routes {
		allow = append(allow, routes[i].method)
		if routes[i].method == r.Method {
			route = &routes[i]
		}
	}
	if route == nil {
		methodNotAllowed(w, r, strings.Join(allow, ", "))
		return
	}
	if !s.requireScope(w, r, route.scope) {
		return
	}
	route.handler(w, r)
}

// unknownCounter counts, per client, attributes that matched no schema: the
// most common cause of provisioning errors is an IdP attribute someone
// renamed or added, and this shows it at once.
type unknownCounter struct {
	mu     sync.Mutex
	counts map[string]map[string]int // client -> attribute -> count
}

// maxUnknownAttrs bounds the memory a misbehaving client can make us use.
const maxUnknownAttrs = 1000

func (c *unknownCounter) add(client string, attrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[string]map[string]int)
	}
	m := c.counts[client]
	if m == nil {
		m = make(map[string]int)
		c.counts[client] = m
	}
	for _, a := range attrs {
		if _, known := m[a]; !known && len(m) >= maxUnknownAttrs {
			continue
		}
		m[a]++
	}
}

type unknownAttr struct {
	Client    string `json:"client"`
	Attribute string `json:"attribute"`
	Count     int    `json:"count"`
}

func (c *unknownCounter) snapshot() []unknownAttr {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []unknownAttr{}
	for client, m := range c.counts {
		for a, n := range m {
			out = append(out, unknownAttr{client, a, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Client != out[j].Client {
			return out[i].Client < out[j].Client
		}
		return out[i].Attribute < out[j].Attribute
	})
	return out
}

// unknownAttributes answers GET /ops/v1/unknown-attributes: the attributes
// this instance ignored since it started, per client, most frequent first.
func (s *Server) unknownAttributes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]any{
		"schemas":   []string{"urn:adfscim:api:UnknownAttributes"},
		"Resources": s.unknown.snapshot(),
	})
}

// plan answers GET /ops/v1/plan: what a reconcile would do now (a dry run).
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	p, err := s.opts.RBAC.Plan(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, p)
}

// assignments answers GET /ops/v1/assignments: the role assignments on the
// mapped factories, as ARM lists them.
func (s *Server) assignments(w http.ResponseWriter, r *http.Request) {
	as, err := s.opts.RBAC.Assignments(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if as == nil {
		as = []rbac.Assignment{}
	}
	writeJSON(w, r, http.StatusOK, map[string]any{"assignments": as})
}

// reconcile answers POST /ops/v1/reconcile: a full reconcile now. 409 when
// another instance is running one.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request) {
	rep, err := s.opts.RBAC.Reconcile(r.Context(), nil)
	if errors.Is(err, rbac.ErrLeaseHeld) {
		writeError(w, r, scim.Errorf(scim.CodeConflict, "", "a reconcile is already running on another instance; retry later"))
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, rep)
}

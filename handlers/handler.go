// Package handlers is adfscim's HTTP layer: the SCIM 2.0 routes under
// /scim/v2, the Azure Functions timer invocations, and the middleware that
// authenticates, logs and protects every request. It alone turns errors into
// status codes; the services below it know nothing of HTTP.
package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/provision"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/tokens"
)

// ScimPrefix is the base path of the SCIM API.
const ScimPrefix = "/scim/v2"

// MaxBodyBytes is the largest request body accepted (413 beyond it). It is
// also advertised in ServiceProviderConfig as bulk.maxPayloadSize.
const MaxBodyBytes = 1 << 20

// RBAC is what the operations API asks of the reconciler.
type RBAC interface {
	Plan(ctx context.Context) (rbac.Plan, error)
	Assignments(ctx context.Context) ([]rbac.Assignment, error)
	Reconcile(ctx context.Context, progress func(done, total int)) (rbac.Report, error)
}

// TimerFunc runs one invocation of a timer-triggered function and returns
// lines for the Functions host's log.
type TimerFunc func(ctx context.Context, pastDue bool) (logs []string, err error)

// Options wire the HTTP layer to the services.
type Options struct {
	Directory *directory.Service
	// Auth checks bearer tokens: the Key Vault or the local source.
	Auth tokens.Authenticator
	// Limiter slows down repeated authentication failures (optional).
	Limiter *tokens.FailureLimiter
	// Audit receives a record of every SCIM write, authentication failure
	// and scope denial; nil records nothing (tests of other concerns).
	Audit audit.Auditor
	// AuditQuery serves GET /ops/v1/audit; nil disables the endpoint.
	AuditQuery audit.Querier
	// Access is the RBAC reconciler's queue (*rbac.Reconciler): every write
	// that may change someone's access (its AccessRefs) is queued in it;
	// nil ignores them.
	Access provision.Queue
	// RBAC serves /ops/v1/plan, /ops/v1/assignments and /ops/v1/reconcile;
	// nil disables them.
	RBAC RBAC
	// Report serves GET /ops/v1/report (the access report); nil disables it.
	Report Reporter
	// Review serves GET /ops/v1/review (the access review sheet) and, with
	// Audit set, POST /ops/v1/review (a completed review); nil disables them.
	Review Reviewer
	Logger zerolog.Logger
	// BaseURL, when set, is the externally visible URL of the SCIM API
	// (https://host/scim/v2); otherwise it is derived from each request.
	BaseURL string
	// Timers maps Azure Functions function names to what they run.
	Timers map[string]TimerFunc
	// Entitlements are the factory roles the mapping allows to grant one
	// person directly (rbac.Mapping.Grants): /Entitlements lists them and
	// /ResourceTypes and /Schemas advertise them when there are any.
	Entitlements []rbac.Grant
	// MaxPageSize caps count on list requests.
	MaxPageSize int
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Server is the root http.Handler.
type Server struct {
	opts    Options
	dir     *directory.Service
	writes  *provision.Service // every SCIM write goes through it
	root    http.Handler
	routes  map[string][]opsRoute
	unknown unknownCounter
}

// DefaultMaxPageSize is the largest page a list returns when Options do not
// say otherwise.
const DefaultMaxPageSize = 1000

// New builds the handler tree: recover -> log -> route, with authentication
// and body limits applied on the API routes.
func New(opts Options) *Server {
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = DefaultMaxPageSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, dir: opts.Directory}
	s.writes = provision.New(provision.Options{Directory: opts.Directory, Trail: opts.Audit, Queue: opts.Access, Logger: opts.Logger})
	s.routes = s.opsRoutes()
	s.root = s.recoverer(s.logRequests(http.HandlerFunc(s.route)))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.root.ServeHTTP(w, r) }

// route dispatches on the path. Resource type names match case-insensitively
// and a trailing slash is ignored, as clients send both.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/" || path == "/healthz":
		// The Functions host polls the handler for readiness.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
		return
	case hasPrefixFold(path, ScimPrefix+"/") || strings.EqualFold(path, ScimPrefix):
		s.authenticated(s.scim)(w, r)
		return
	case hasPrefixFold(path, OpsPrefix+"/"):
		s.authenticated(s.ops)(w, r)
		return
	}
	if name := strings.Trim(path, "/"); r.Method == http.MethodPost && !strings.Contains(name, "/") {
		if fn, ok := s.timerFor(name); ok {
			s.timer(w, r, name, fn)
			return
		}
	}
	writeError(w, r, errNotFoundRoute(path))
}

func (s *Server) timerFor(name string) (TimerFunc, bool) {
	for n, fn := range s.opts.Timers {
		if strings.EqualFold(n, name) {
			return fn, true
		}
	}
	return nil, false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

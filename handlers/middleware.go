package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

type ctxKey int

const ctxRequestInfo ctxKey = iota

// requestInfo collects what the access log line reports about a request.
type requestInfo struct {
	route     string
	client    string
	requestID string // the Functions invocation id, or one made up here
	err       error  // the cause of a 5xx, for the log only
}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(ctxRequestInfo).(*requestInfo)
	if ri == nil {
		return &requestInfo{}
	}
	return ri
}

func identityFrom(ctx context.Context) tokens.Client {
	c, _ := tokens.ClientFrom(ctx)
	return c
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// invocationID is the Azure Functions invocation id of a forwarded request.
func invocationID(r *http.Request) string {
	if v := r.Header.Get("X-Azure-Functions-InvocationId"); v != "" {
		return v
	}
	return r.Header.Get("X-Request-Id")
}

// logRequests writes one JSON line per request: method, route, status,
// duration, invocation id and client. It never logs headers or bodies, so a
// token or a password cannot reach the log.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{requestID: invocationID(r)}
		if ri.requestID == "" {
			ri.requestID = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", ri.requestID)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxRequestInfo, ri)))
		route := ri.route
		if route == "" {
			route = "other"
		}
		ev := s.opts.Logger.Info()
		if sw.status >= 500 {
			ev = s.opts.Logger.Error()
		}
		ev.Str("method", r.Method).
			Str("route", route).
			Int("status", sw.status).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
			Int("bytes", sw.bytes)
		ev = ev.Str("request_id", ri.requestID)
		if id := invocationID(r); id != "" {
			ev = ev.Str("invocation_id", id)
		}
		if ri.client != "" {
			ev = ev.Str("client", ri.client)
		}
		if ri.err != nil {
			ev = ev.AnErr("error", ri.err)
		}
		ev.Msg("request")
	})
}

// recoverer turns a panic into a logged 500 with a SCIM body.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.opts.Logger.Error().Interface("panic", v).Bytes("stack", debug.Stack()).
					Str("method", r.Method).Str("path", r.URL.Path).Msg("handler panic")
				writeError(w, r, &scim.Error{Code: scim.CodeInternal, Detail: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// sourceOf names the client address for failure rate limiting and the
// audit trail. Behind Azure's front ends (and the Functions host, which
// connects from loopback) the client is the right-most X-Forwarded-For
// entry that is not a loopback address: entries to its left are whatever
// the client itself sent, and cannot be trusted.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return host // not behind a local proxy: the peer is the client
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if h, _, err := net.SplitHostPort(hop); err == nil {
			hop = h
		}
		if ip := net.ParseIP(hop); ip != nil && !ip.IsLoopback() {
			return ip.String()
		}
	}
	return host
}

// authenticated checks the bearer token before next runs. The token is
// always checked, so a valid one is never throttled; failures from a source
// that keeps failing are slowed down (429).
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	guard := tokens.Guard{Auth: s.opts.Auth, Limiter: s.opts.Limiter}
	return func(w http.ResponseWriter, r *http.Request) {
		src := sourceOf(r)
		token, ok := tokens.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			if s.opts.Limiter != nil {
				s.opts.Limiter.Failed(src)
			}
			s.authFailed(w, r, src, "missing bearer token", "a bearer token is required (Authorization: Bearer <token>)")
			s.recordAuth(r, audit.ActionAuthFailure, "", "no bearer token", http.StatusUnauthorized)
			return
		}
		c, err := guard.Authenticate(r.Context(), src, token)
		if errors.Is(err, tokens.ErrThrottled) {
			s.opts.Logger.Warn().Str("source", src).Str("path", r.URL.Path).Msg("authentication failures throttled")
			w.Header().Set("Retry-After", "1")
			writeError(w, r, scim.Errorf(scim.CodeTooManyRequests, "", "too many failed authentication attempts; retry later"))
			return
		}
		if err != nil {
			s.authFailed(w, r, src, err.Error(), "the bearer token is not valid")
			s.recordAuth(r, audit.ActionAuthFailure, "", "the bearer token is not valid", http.StatusUnauthorized)
			return
		}
		infoFrom(r.Context()).client = c.Name
		next(w, r.WithContext(tokens.WithClient(r.Context(), c)))
	}
}

func (s *Server) authFailed(w http.ResponseWriter, r *http.Request, src, reason, detail string) {
	s.opts.Logger.Warn().Str("source", src).Str("reason", reason).Str("path", r.URL.Path).Msg("authentication failed")
	w.Header().Set("WWW-Authenticate", `Bearer realm="adfscim"`)
	writeError(w, r, scim.Errorf(scim.CodeUnauthorized, "", "%s", detail))
}

// requireScope answers 403 (and records the denial) unless the request's
// identity carries scope.
func (s *Server) requireScope(w http.ResponseWriter, r *http.Request, scope tokens.Scope) bool {
	c := identityFrom(r.Context())
	if c.Has(scope) {
		return true
	}
	detail := "this token lacks the " + string(scope) + " scope"
	s.recordAuth(r, audit.ActionAuthForbidden, c.Name, detail, http.StatusForbidden)
	writeError(w, r, scim.Errorf(scim.CodeForbidden, "", "%s", detail))
	return false
}

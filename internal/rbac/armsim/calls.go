package armsim

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Call is one request the simulator carried out, as a test sees ARM's
// side: what came, when, what it answered and what it changed. A request an
// injected 429, 500 or timeout stopped is not a call; one whose answer was
// lost is (ARM did the work).
type Call struct {
	Received time.Time // when the request arrived (before any latency or hold)
	Done     time.Time // when it was carried out
	Method   string
	Path     string // the URL path as requested
	Status   int    // the answer, a lost one too
	// Principal is, for a write, the principal it wrote for (lower case),
	// when the request or the removed assignment names one.
	Principal string
	// Changed is set on a write that changed the state: an assignment or
	// schedule created, changed or removed (not a 409, not the 204 of a
	// delete of nothing, not the repeated answer of a retried request).
	Changed bool
}

// Write reports whether the call is a PUT or a DELETE.
func (c Call) Write() bool { return c.Method == http.MethodPut || c.Method == http.MethodDelete }

// Name is the last segment of the path, lower case: the assignment's or the
// schedule request's name of a write.
func (c Call) Name() string { return strings.ToLower(path.Base(c.Path)) }

// RoleAssignmentList reports whether the call is a page of a role
// assignment list.
func (c Call) RoleAssignmentList() bool {
	return c.Method == http.MethodGet && strings.HasSuffix(strings.ToLower(strings.TrimSuffix(c.Path, "/")), listSuffix)
}

// state is what a simulator holds besides the store: the call log, the
// waiters, the hold on writes. Assignments live in the store, so that two
// simulators on one store see the same ARM; each keeps its own log.
type state struct {
	mu       sync.Mutex
	calls    []Call
	tick     chan struct{} // closed and replaced on every call and every held write
	gate     chan struct{} // non-nil while writes are held
	holding  int
	inFlight int           // requests arrived and not yet answered
	done     chan struct{} // closed by Close
	closed   bool
}

func newState() *state {
	return &state{tick: make(chan struct{}), done: make(chan struct{})}
}

func (st *state) notifyLocked() {
	close(st.tick)
	st.tick = make(chan struct{})
}

// Calls returns the calls from index from on (all of them with 0), in the
// order they were carried out, and the index to ask from next time. The
// log is kept only with Options.RecordCalls; without it the list is empty.
func (s *Sim) Calls(from int) ([]Call, int) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	from = min(max(from, 0), len(s.st.calls))
	return append([]Call(nil), s.st.calls[from:]...), len(s.st.calls)
}

// Wait blocks until cond holds or ctx ends. cond is checked at once and
// again after every call the simulator carries out, every write it starts
// holding and every request it finishes; it may read the simulator (All,
// Calls, Holding, InFlight).
func (s *Sim) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.st.mu.Lock()
		tick := s.st.tick
		s.st.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Hold makes every write (PUT, DELETE) that arrives wait, before it reaches
// the state, until release is called: a test uses it to keep a reconcile
// in the middle of its writes. Holding says how many wait.
func (s *Sim) Hold() (release func()) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if s.st.gate == nil {
		s.st.gate = make(chan struct{})
	}
	g := s.st.gate
	return func() {
		s.st.mu.Lock()
		defer s.st.mu.Unlock()
		if s.st.gate == g {
			close(g)
			s.st.gate = nil
		}
	}
}

// InFlight is the number of requests that arrived and are not answered
// yet: a change a test sees in the state is in the call log once its
// request is no longer in flight.
func (s *Sim) InFlight() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.inFlight
}

// arrive and leave count a request in and out of flight.
func (s *Sim) arrive() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.inFlight++
}

func (s *Sim) leave() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.inFlight--
	s.st.notifyLocked()
}

// Holding is the number of writes waiting for a Hold's release.
func (s *Sim) Holding() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.holding
}

// Close releases the requests an injected timeout keeps hanging and the
// writes a Hold keeps waiting, and makes later timeouts fail at once: call
// it before closing a test server, which waits for its handlers.
func (s *Sim) Close() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if !s.st.closed {
		s.st.closed = true
		close(s.st.done)
	}
}

// hold waits while writes are held; false if ctx ended first.
func (s *Sim) hold(ctx context.Context) error {
	s.st.mu.Lock()
	g := s.st.gate
	if g != nil {
		s.st.holding++
		s.st.notifyLocked()
	}
	s.st.mu.Unlock()
	if g == nil {
		return nil
	}
	defer func() {
		s.st.mu.Lock()
		s.st.holding--
		s.st.mu.Unlock()
	}()
	select {
	case <-g:
		return nil
	case <-s.st.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hang keeps a request unanswered until its client gives up or the
// simulator is closed: ARM never answering.
func (s *Sim) hang(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.st.done:
		return errHung
	}
}

// record logs a carried-out call and wakes the waiters.
func (s *Sim) record(c Call) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if s.o.RecordCalls {
		s.st.calls = append(s.st.calls, c)
	}
	s.st.notifyLocked()
}

// callNote is where the simulator's methods note, for the call log, the
// principal a write is for and whether it changed the state.
type callNote struct {
	principal string
	changed   bool
}

type callNoteKey struct{}

func withNote(ctx context.Context) (context.Context, *callNote) {
	n := &callNote{}
	return context.WithValue(ctx, callNoteKey{}, n), n
}

// note records principal and changed on the call ctx belongs to, if any.
func note(ctx context.Context, principal string, changed bool) {
	if n, ok := ctx.Value(callNoteKey{}).(*callNote); ok {
		n.principal = strings.ToLower(principal)
		n.changed = n.changed || changed
	}
}

var errHung = errors.New("armsim: closed while a request hung (injected timeout)")

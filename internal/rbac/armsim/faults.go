package armsim

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
)

// ErrLost is the transport error of an answer the simulator "lost": the
// request was carried out, the client never heard.
var ErrLost = errors.New("armsim: connection reset (answer lost)")

// Faults makes the simulator fail as ARM does, at random (seeded, so a run
// can be repeated): 429 with a Retry-After, 500, answers lost after the
// request was carried out, and timeouts (ARM never answers, nor acts: the
// request hangs until the client gives up or the simulator is closed). The
// zero probabilities fail nothing.
type Faults struct {
	P429, P500, PLost, PTimeout float64
	// Script names the faults of the next writes (PUT, DELETE), in order,
	// before the random ones ("" for none), so that a short run sees every
	// kind.
	Script []string
	// RetryAfterHeader and RetryAfterValue are the 429's hint (default
	// "Retry-After" "1"; ARM also sends "Retry-After-Ms").
	RetryAfterHeader, RetryAfterValue string
	Seed                              uint64

	mu       sync.Mutex
	rng      *rand.Rand
	paused   bool
	Injected map[string]int // by fault, guarded by mu
}

// Pause stops injecting faults (a test's setup or final checks); Resume
// starts again where the seeded sequence stood.
func (f *Faults) Pause() { f.setPaused(true) }

// Resume undoes Pause.
func (f *Faults) Resume() { f.setPaused(false) }

func (f *Faults) setPaused(p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = p
}

// pick draws the fault for one request ("" for none).
func (f *Faults) pick(req *http.Request) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x5851f42d4c957f2d))
		f.Injected = map[string]int{}
	}
	if f.paused {
		return ""
	}
	x := f.rng.Float64()
	fault := ""
	switch {
	case len(f.Script) > 0 && (req.Method == http.MethodPut || req.Method == http.MethodDelete):
		fault, f.Script = f.Script[0], f.Script[1:]
	case x < f.P429:
		fault = "429"
	case x < f.P429+f.P500:
		fault = "500"
	case x < f.P429+f.P500+f.PLost:
		fault = "lost"
	case x < f.P429+f.P500+f.PLost+f.PTimeout:
		fault = "timeout"
	}
	if fault != "" {
		f.Injected[fault]++
	}
	return fault
}

// Count is how many faults of a kind ("429", "500", "lost", "timeout") were
// injected.
func (f *Faults) Count(fault string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Injected[fault]
}

func (f *Faults) throttled(req *http.Request) (*http.Response, error) {
	h, v := f.RetryAfterHeader, f.RetryAfterValue
	if h == "" {
		h, v = "Retry-After", "1"
	}
	resp, err := jsonResponse(req, http.StatusTooManyRequests, armError("TooManyRequests", "armsim: injected throttling"))
	if resp != nil {
		resp.Header.Set(h, v)
	}
	return resp, err
}

package tables

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// FaultMode says how Faults breaks a request.
type FaultMode int

const (
	// Fault503 answers 503 Server Busy without sending the request.
	Fault503 FaultMode = iota + 1
	// FaultRefuse fails the request with a connection-refused error without
	// sending it.
	FaultRefuse
	// FaultDropResponse sends the request (so the service applies it) and
	// then drops the connection before the answer arrives: the client cannot
	// know whether its write happened.
	FaultDropResponse
)

// Faults is a fault-injection pipeline policy for tests: it breaks chosen
// requests so that tests can prove retries, ErrUnavailable and recovery from
// half-done work. Install it with Options.PerRetryPolicies (it then sees
// every attempt, retries included). The zero value injects nothing.
type Faults struct {
	mu    sync.Mutex
	seen  int // attempts seen so far
	rules []faultRule
}

type faultRule struct {
	from, to int // 1-based attempt numbers, inclusive
	mode     FaultMode
}

// FailNext breaks the next count attempts (counted from now) with mode.
func (f *Faults) FailNext(count int, mode FaultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, faultRule{from: f.seen + 1, to: f.seen + count, mode: mode})
}

// FailNth breaks only the nth attempt from now (n >= 1) with mode.
func (f *Faults) FailNth(n int, mode FaultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, faultRule{from: f.seen + n, to: f.seen + n, mode: mode})
}

// Reset drops every pending rule.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Seen is the number of attempts the policy has seen so far.
func (f *Faults) Seen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

// Do implements policy.Policy.
func (f *Faults) Do(req *policy.Request) (*http.Response, error) {
	f.mu.Lock()
	f.seen++
	var mode FaultMode
	for _, r := range f.rules {
		if f.seen >= r.from && f.seen <= r.to {
			mode = r.mode
			break
		}
	}
	f.mu.Unlock()
	switch mode {
	case Fault503:
		body := `{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"injected fault"}}}`
		return &http.Response{
			Status:     "503 Server Busy",
			StatusCode: http.StatusServiceUnavailable,
			Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json"}, "X-Ms-Error-Code": {"ServerBusy"}},
			Body:          io.NopCloser(bytes.NewBufferString(body)),
			ContentLength: int64(len(body)),
			Request:       req.Raw(),
		}, nil
	case FaultRefuse:
		return nil, fmt.Errorf("injected fault: dial: %w", syscall.ECONNREFUSED)
	case FaultDropResponse:
		resp, err := req.Next()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil, fmt.Errorf("injected fault: read: %w", syscall.ECONNRESET)
	}
	return req.Next()
}

package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one connection's loop state: its buffers and random source are
// reused for every request it sends.
type worker struct {
	n    int // worker number
	rng  *rand.Rand
	body []byte
	buf  bytes.Buffer
	hist histogram
	// ok counts answers the phase accepted; errs the rest.
	ok, errs int
	// seq numbers what the worker creates.
	seq      int
	firstErr error
}

// step sends one request and reports whether its answer was right.
type step func(ctx context.Context, w *worker) error

// PhaseResult is one measured phase.
type PhaseResult struct {
	Name     string  `json:"name"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"requests_per_second"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	// Ratios to the trivial handler measured in the same run (0 when it was
	// not): RPS as a fraction, latencies as multiples.
	RPSRatio float64 `json:"rps_ratio,omitempty"`
	P50Ratio float64 `json:"p50_ratio,omitempty"`
	P99Ratio float64 `json:"p99_ratio,omitempty"`
	// DiskRatio is a write phase's requests per second as a multiple of
	// the disk's serial fdatasync rate measured in the same run (above 1:
	// commits are grouped).
	DiskRatio float64 `json:"disk_ratio,omitempty"`
	// FirstError is the first failure seen, for diagnosis.
	FirstError string `json:"first_error,omitempty"`
	// Profile is the CPU profile saved for this phase.
	Profile string `json:"profile,omitempty"`
}

// drive runs fn on conns workers until duration has passed or maxReq
// requests were started, whichever comes first.
func drive(ctx context.Context, name string, conns int, duration time.Duration, maxReq int, seed int64, fn step) PhaseResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := make([]*worker, conns)
	for i := range workers {
		workers[i] = &worker{n: i, rng: rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))}
	}
	var started atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	deadline := begin.Add(duration)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && started.Add(1) <= int64(maxReq) {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := fn(ctx, w)
				w.hist.record(time.Since(t0))
				if err != nil {
					w.errs++
					if w.firstErr == nil {
						w.firstErr = err
					}
				} else {
					w.ok++
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	var h histogram
	r := PhaseResult{Name: name, Seconds: elapsed.Seconds()}
	for _, w := range workers {
		h.merge(&w.hist)
		r.Requests += w.ok + w.errs
		r.Errors += w.errs
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
	}
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	r.P50Ms = ms(h.quantile(0.50))
	r.P99Ms = ms(h.quantile(0.99))
	r.MaxMs = ms(time.Duration(h.max))
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// withRatios fills r's ratios to the trivial handler's figures.
func withRatios(r PhaseResult, trivial *PhaseResult) PhaseResult {
	if trivial == nil || trivial.RPS == 0 {
		return r
	}
	r.RPSRatio = r.RPS / trivial.RPS
	if trivial.P50Ms > 0 {
		r.P50Ratio = r.P50Ms / trivial.P50Ms
	}
	if trivial.P99Ms > 0 {
		r.P99Ratio = r.P99Ms / trivial.P99Ms
	}
	return r
}

// profiler fetches a CPU profile from a server's net/http/pprof while a
// phase runs.
type profiler struct {
	base, dir string
}

// start asks for a profile as long as the phase and returns a function that
// waits for it and returns the file it was saved to.
func (p *profiler) start(ctx context.Context, phase string, d time.Duration) func() (string, error) {
	if p == nil {
		return func() (string, error) { return "", nil }
	}
	secs := max(int(d/time.Second), 1)
	type res struct {
		path string
		err  error
	}
	done := make(chan res, 1)
	go func() {
		path := filepath.Join(p.dir, phase+".pprof")
		err := fetchTo(ctx, fmt.Sprintf("%s/profile?seconds=%d", p.base, secs), path)
		done <- res{path, err}
	}()
	return func() (string, error) { r := <-done; return r.path, r.err }
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Minute}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

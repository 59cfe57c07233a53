package tokens

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	type step struct {
		advance   time.Duration
		source    string
		fail      int  // failures to record first
		wantAllow bool // Allow after them
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"unknown source is allowed", []step{{source: "a", wantAllow: true}}},
		{"burst of failures is allowed", []step{{source: "a", fail: 9, wantAllow: true}}},
		{"tenth failure blocks", []step{{source: "a", fail: 10, wantAllow: false}}},
		{"refill after one second", []step{
			{source: "a", fail: 10, wantAllow: false},
			{advance: 999 * time.Millisecond, source: "a", wantAllow: false},
			{advance: time.Millisecond, source: "a", wantAllow: true},
			{source: "a", fail: 1, wantAllow: false},
		}},
		{"sources are independent", []step{
			{source: "a", fail: 50, wantAllow: false},
			{source: "b", wantAllow: true},
		}},
		{"blocked source keeps failing stays blocked", []step{
			{source: "a", fail: 100, wantAllow: false},
			{advance: 5 * time.Second, source: "a", wantAllow: true},
			{source: "a", fail: 5, wantAllow: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock()
			l := NewFailureLimiter(LimiterOptions{Now: clk.Now})
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				for range s.fail {
					l.Failed(s.source)
				}
				if got := l.Allow(s.source); got != s.wantAllow {
					t.Fatalf("step %d: Allow(%q) = %v, want %v", i, s.source, got, s.wantAllow)
				}
			}
		})
	}
}

func TestFailureLimiterSuccessNeverThrottled(t *testing.T) {
	// Authenticated requests only call Allow; however many there are, the
	// source stays allowed.
	l := NewFailureLimiter(LimiterOptions{Now: newTestClock().Now})
	for range 10000 {
		if !l.Allow("idp") {
			t.Fatal("authenticated traffic was throttled")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Allow alone created %d entries", l.Len())
	}
}

func TestFailureLimiterBoundedMemory(t *testing.T) {
	clk := newTestClock()
	l := NewFailureLimiter(LimiterOptions{MaxSources: 100, Now: clk.Now})
	// An attacker rotating through many addresses cannot grow the map.
	for i := range 1000 {
		l.Failed(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		clk.Advance(time.Millisecond)
	}
	if l.Len() > 100 {
		t.Fatalf("tracking %d sources, max 100", l.Len())
	}
	// The most recent offender is still tracked and blocked after its burst.
	for range 10 {
		l.Failed("198.51.100.7")
	}
	if l.Allow("198.51.100.7") {
		t.Fatal("recent offender was evicted")
	}
	// Once buckets refill they are dropped first.
	clk.Advance(time.Minute)
	l.Failed("203.0.113.1")
	if l.Len() != 1 {
		t.Fatalf("after refill, %d sources tracked, want 1", l.Len())
	}
}

func TestGuard(t *testing.T) {
	ctx := context.Background()
	l, _ := NewLocal(newMemStore(), LocalOptions{})
	good, err := l.Create(ctx, "entra", []Scope{ScimWrite}, 0)
	if err != nil {
		t.Fatal(err)
	}
	clk := newTestClock()
	g := Guard{Auth: l, Limiter: NewFailureLimiter(LimiterOptions{Burst: 3, Now: clk.Now})}
	// An attacker shares the IdP's source address (as every request does
	// behind the Functions host).
	const src = "127.0.0.1"
	steps := []struct {
		token string
		want  error // nil: authenticated
	}{
		{"guess-1", ErrUnknownToken},
		{"guess-2", ErrUnknownToken},
		{"guess-3", ErrUnknownToken},
		{"guess-4", ErrThrottled},
		{good, nil}, // the real client is not locked out
		{"guess-5", ErrThrottled},
		{good, nil},
	}
	for i, s := range steps {
		c, err := g.Authenticate(ctx, src, s.token)
		if s.want == nil {
			if err != nil || c.Name != "entra" {
				t.Fatalf("step %d: valid token: %+v, %v", i, c, err)
			}
			continue
		}
		if !errors.Is(err, s.want) {
			t.Fatalf("step %d: err = %v, want %v", i, err, s.want)
		}
		if !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("step %d: err = %v does not say why the token failed", i, err)
		}
	}
	// Another source is unaffected.
	if _, err := g.Authenticate(ctx, "192.0.2.9", "guess"); errors.Is(err, ErrThrottled) {
		t.Fatal("throttling leaked to another source")
	}
	// Without a limiter, failures are plain.
	if _, err := (Guard{Auth: l}).Authenticate(ctx, src, "guess"); !errors.Is(err, ErrUnknownToken) || errors.Is(err, ErrThrottled) {
		t.Fatalf("no limiter: err = %v", err)
	}
}

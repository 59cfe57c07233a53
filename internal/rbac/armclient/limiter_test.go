package armclient

import (
	"testing"
	"time"
)

func TestWriteLimiterBucket(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newWriteLimiter(10, 3)
	steps := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 0}, {0, 0}, {0, 0}, // the burst
		{0, 100 * time.Millisecond}, // then 10/s
		{0, 200 * time.Millisecond},
		{time.Second, 0}, // refilled (tokens were -2, +10, capped at 3)
		{time.Second, 0},
		{time.Second, 0},
		{time.Second, 100 * time.Millisecond},
	}
	for i, s := range steps {
		if got := l.reserve("sub", t0.Add(s.at)); (got - s.want).Abs() > time.Millisecond {
			t.Errorf("step %d: wait %v, want %v", i, got, s.want)
		}
	}
	// Sustained: 100 writes from an empty bucket take 10 s of waits at 10/s.
	l = newWriteLimiter(10, 1)
	var last time.Duration
	for i := 0; i < 101; i++ {
		last = l.reserve("sub", t0)
	}
	if (last - 10*time.Second).Abs() > time.Millisecond {
		t.Errorf("101st write waits %v, want 10s", last)
	}
}

// Each subscription has a bucket of its own, as ARM's is per subscription.
func TestWriteLimiterPerSubscription(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newWriteLimiter(10, 2)
	for i, want := range []time.Duration{0, 0, 100 * time.Millisecond} {
		if got := l.reserve("sub-a", t0); (got - want).Abs() > time.Millisecond {
			t.Errorf("sub-a write %d: wait %v, want %v", i, got, want)
		}
	}
	if got := l.reserve("sub-b", t0); got != 0 {
		t.Errorf("sub-b's first write waits %v behind sub-a's", got)
	}
	for _, tc := range []struct{ path, want string }{
		{"/subscriptions/AAAA-1/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f/providers/Microsoft.Authorization/roleAssignments/x", "aaaa-1"},
		{"/subscriptions/bbbb-2", "bbbb-2"},
		{"/providers/Microsoft.Authorization/roleAssignments/x", ""},
	} {
		if got := requestSubscription(tc.path); got != tc.want {
			t.Errorf("requestSubscription(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

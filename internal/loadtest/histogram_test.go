package loadtest

import (
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample", []time.Duration{3 * time.Millisecond}, 0.99, 3 * time.Millisecond},
		{"exact small values", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"p99 of 1..100 ms", seq(100, time.Millisecond), 0.99, 99 * time.Millisecond},
		{"p50 of 1..100 ms", seq(100, time.Millisecond), 0.50, 50 * time.Millisecond},
		{"max is capped at the largest sample", seq(10, time.Second), 1, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, s := range tc.samples {
				h.record(s)
			}
			got := h.quantile(tc.q)
			// Buckets keep 7 significant bits: within 1/64 above the truth.
			if got < tc.want || float64(got-tc.want) > float64(tc.want)/64 {
				t.Errorf("quantile(%v) = %v, want %v (+1/64)", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1e3, 1e6, 1e9, 1 << 40, 1<<63 - 1, 1<<64 - 1} {
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, bucketCount)
		}
		if hi := bucketHigh(i); hi < v || (i > 0 && bucketHigh(i-1) >= v) {
			t.Errorf("value %d in bucket %d whose range ends at %d (previous ends at %d)", v, i, hi, bucketHigh(i-1))
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b histogram
	for _, s := range seq(50, time.Millisecond) {
		a.record(s)
		b.record(s + 50*time.Millisecond)
	}
	a.merge(&b)
	if a.n != 100 || time.Duration(a.max) != 100*time.Millisecond {
		t.Fatalf("merged n=%d max=%v, want 100 and 100ms", a.n, time.Duration(a.max))
	}
	if got := a.quantile(0.5); got < 50*time.Millisecond || got > 51*time.Millisecond {
		t.Errorf("merged p50 = %v, want 50ms", got)
	}
}

func seq(n int, unit time.Duration) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = time.Duration(i+1) * unit
	}
	return s
}

package loadtest

import (
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets, as HDR histograms do:
// values below 2^subBits ns are exact, larger ones keep subBits significant
// bits, so any quantile is within 1/64 (1.6 %) of the true sample. Recording
// is an array increment: no allocation on the measured path.
type histogram struct {
	counts [bucketCount]uint64
	n      uint64
	max    uint64
}

const (
	subBits     = 7
	subHalf     = 1 << (subBits - 1)
	bucketCount = (64-subBits+1)*subHalf + subHalf
)

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*subHalf + int(v>>uint(shift))
}

// bucketHigh is the largest value that falls into bucket i.
func bucketHigh(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i/subHalf - 1
	mant := uint64(i - shift*subHalf)
	return (mant+1)<<uint(shift) - 1
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the samples lie
// (the upper edge of the bucket holding the ceil(q*n)-th sample, capped at
// the largest sample). It is 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max)
}

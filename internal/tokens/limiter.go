package tokens

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LimiterOptions configure a FailureLimiter. Zero values take the defaults.
type LimiterOptions struct {
	// Burst is how many failed authentications a source may make in a row
	// before it is slowed down. Default 10.
	Burst int
	// Refill is how long it takes to earn back one failure. Default 1s.
	Refill time.Duration
	// MaxSources bounds the number of sources tracked. Default 10000.
	MaxSources int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// FailureLimiter slows down repeated failed authentications from one source
// (usually the client IP). It is a token bucket per source that only failed
// authentications drain. Use it through Guard, which checks the token first
// so that authenticated traffic is never throttled.
//
// A source whose bucket has filled up again is indistinguishable from an
// unknown one and is evicted first, so memory stays bounded by MaxSources.
type FailureLimiter struct {
	burst  float64
	rate   float64 // tokens per second
	max    int
	now    func() time.Time
	mu     sync.Mutex
	bucket map[string]*failBucket
}

type failBucket struct {
	tokens float64
	last   time.Time
}

// NewFailureLimiter returns a limiter with the given options.
func NewFailureLimiter(o LimiterOptions) *FailureLimiter {
	if o.Burst <= 0 {
		o.Burst = 10
	}
	if o.Refill <= 0 {
		o.Refill = time.Second
	}
	if o.MaxSources <= 0 {
		o.MaxSources = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &FailureLimiter{
		burst:  float64(o.Burst),
		rate:   float64(time.Second) / float64(o.Refill),
		max:    o.MaxSources,
		now:    o.Now,
		bucket: make(map[string]*failBucket),
	}
}

// level returns b's token count at time now, refilled.
func (l *FailureLimiter) level(b *failBucket, now time.Time) float64 {
	t := b.tokens + now.Sub(b.last).Seconds()*l.rate
	if t > l.burst {
		t = l.burst
	}
	return t
}

// Allow reports whether source may attempt an authentication now: true
// unless it has used up its failures. It does not consume anything.
func (l *FailureLimiter) Allow(source string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket[source]
	if !ok {
		return true
	}
	return l.level(b, l.now()) >= 1
}

// Failed records a failed authentication by source.
func (l *FailureLimiter) Failed(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.bucket[source]
	if !ok {
		if len(l.bucket) >= l.max {
			l.evict(now)
		}
		b = &failBucket{tokens: l.burst, last: now}
		l.bucket[source] = b
	}
	t := l.level(b, now) - 1
	if t < 0 {
		t = 0
	}
	b.tokens, b.last = t, now
}

// evict makes room for one entry: it drops every bucket that has refilled
// (forgetting it changes nothing), and when none has, the one touched
// longest ago.
func (l *FailureLimiter) evict(now time.Time) {
	var (
		oldest   string
		oldestAt time.Time
		found    bool
	)
	for k, b := range l.bucket {
		if l.level(b, now) >= l.burst {
			delete(l.bucket, k)
			continue
		}
		if !found || b.last.Before(oldestAt) {
			oldest, oldestAt, found = k, b.last, true
		}
	}
	if len(l.bucket) >= l.max && found {
		delete(l.bucket, oldest)
	}
}

// Len returns the number of sources tracked (for metrics and tests).
func (l *FailureLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bucket)
}

// ErrThrottled means a source made too many failed authentications and
// this one failed too; the HTTP layer answers 429 with Retry-After.
var ErrThrottled = errors.New("tokens: too many failed authentications")

// Guard applies a FailureLimiter around an Authenticator so that a valid
// token is never throttled, whatever its source has done: the token is
// always checked, and only a failure from a source that has used up its
// failures becomes ErrThrottled. This matters where many clients share a
// source address (behind the Functions host every request may come from
// 127.0.0.1, and IdPs send from shared egress addresses): asking Allow
// before checking the token would let anyone lock the real IdP out.
type Guard struct {
	Auth    Authenticator
	Limiter *FailureLimiter // nil: no limiting
}

// Authenticate checks token for a request from source. Errors wrap
// ErrUnknownToken or ErrUnavailable, and also ErrThrottled when source is
// over its limit.
func (g Guard) Authenticate(ctx context.Context, source, token string) (Client, error) {
	c, err := g.Auth.Authenticate(ctx, token)
	if err == nil || g.Limiter == nil {
		return c, err
	}
	allowed := g.Limiter.Allow(source)
	g.Limiter.Failed(source)
	if !allowed {
		return Client{}, fmt.Errorf("%w: %w", ErrThrottled, err)
	}
	return Client{}, err
}

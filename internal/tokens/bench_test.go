package tokens

import (
	"context"
	"testing"
)

func BenchmarkLocalAuthenticate(b *testing.B) {
	l, _ := NewLocal(newMemStore(), LocalOptions{})
	tok, err := l.Create(context.Background(), "entra", []Scope{ScimWrite}, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Authenticate(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewFailureLimiter(LimiterOptions{})
	l.Failed("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("192.0.2.1")
	}
}

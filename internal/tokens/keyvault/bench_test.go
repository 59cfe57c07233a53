package keyvault

import (
	"testing"

	"github.com/adfscim/adfscim/internal/tokens"
)

func BenchmarkAuthenticate(b *testing.B) {
	e := newFakeEnv(b, Options{})
	tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimWrite}, 0)
	if err := e.src.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.src.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

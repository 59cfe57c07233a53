package keyvault

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/tokens"
)

// TestRunRefreshesUntilCancelled checks that Run loads the set at once,
// keeps refreshing and returns when its context ends.
func TestRunRefreshesUntilCancelled(t *testing.T) {
	e := newFakeEnv(t, Options{Interval: time.Millisecond})
	tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
	e.vault.listed = make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		e.src.Run(rctx)
		close(done)
	}()
	for range 3 { // the first listing, then two by the ticker
		<-e.vault.listed
	}
	expect(t, e, "after Run's refreshes", tok, "entra", nil)
	cancel()
	<-done
}

// TestConcurrentUse authenticates from many goroutines while the set is
// refreshed and rotated (run with -race).
func TestConcurrentUse(t *testing.T) {
	e := newFakeEnv(t, Options{})
	tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
	if err := e.src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, err := e.src.Authenticate(ctx, tok); err != nil {
					errs <- err
					return
				}
				_, _ = e.src.Authenticate(ctx, "unknown")
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			e.clk.Advance(time.Second)
			_ = e.src.Refresh(ctx)
		}
	})
	wg.Go(func() {
		_, _ = e.src.Rotate(ctx, "entra", time.Hour)
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("valid token refused under concurrency: %v", err)
	}
}

package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

// hiding wraps an engine the way a test's counting store does, without
// forwarding BatchFollow.
type hiding struct{ store.Store }

// forwarding wraps an engine and forwards BatchFollow.
type forwarding struct{ store.Store }

func (f forwarding) BatchFollow(ctx context.Context, table string, ops []store.Op, follow store.Follow) ([]string, error) {
	return f.Store.(store.Follower).BatchFollow(ctx, table, ops, follow)
}

// optingOut wraps an engine and reports no follow-ups: an explicit choice.
type optingOut struct{ store.Store }

func (optingOut) Capabilities() store.Capabilities { return store.Capabilities{} }

// TestFollowerOf checks that a wrapper cannot switch follow-up commits off
// unnoticed: one that embeds a Follower engine without forwarding
// BatchFollow is an error, one that forwards it or says it does without is
// taken at its word.
func TestFollowerOf(t *testing.T) {
	engine, err := bolt.Open(filepath.Join(t.TempDir(), "cap.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	tests := []struct {
		name         string
		st           store.Store
		wantFollower bool
		wantErr      error
	}{
		{"the engine", engine, true, nil},
		{"a wrapper that forwards", forwarding{engine}, true, nil},
		{"a wrapper that hides it", hiding{engine}, false, store.ErrCapability},
		{"a wrapper that opts out", optingOut{engine}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := store.FollowerOf(tc.st)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if (f != nil) != tc.wantFollower {
				t.Errorf("Follower = %v, want one: %v", f, tc.wantFollower)
			}
		})
	}
}

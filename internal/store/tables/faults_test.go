package tables_test

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func TestFaults(t *testing.T) {
	ctx := context.Background()
	type step func(s *tables.Store) error
	get := func(s *tables.Store) error { _, err := s.Get(ctx, "f", "p", "seed"); return err }
	list := func(s *tables.Store) error { _, err := s.List(ctx, "f", store.Query{PartitionKey: "p"}); return err }
	single := func(s *tables.Store) error {
		_, err := s.Batch(ctx, "f", []store.Op{{Kind: store.Upsert, Entity: ent("p", "u", "1")}})
		return err
	}
	multi := func(s *tables.Store) error {
		_, err := s.Batch(ctx, "f", []store.Op{{Kind: store.Upsert, Entity: ent("p", "u", "1")}, {Kind: store.Upsert, Entity: ent("p", "v", "1")}})
		return err
	}
	// MaxRetries is 2 in newStore: 3 attempts in all.
	tests := []struct {
		name    string
		fail    int
		mode    tables.FaultMode
		run     step
		wantErr error // nil: the retries absorb the fault
	}{
		{"get survives two 503s", 2, tables.Fault503, get, nil},
		{"get gives up after three 503s", 3, tables.Fault503, get, store.ErrUnavailable},
		{"list survives a refused connection", 1, tables.FaultRefuse, list, nil},
		{"list gives up on refused connections", 5, tables.FaultRefuse, list, store.ErrUnavailable},
		{"single write survives 503s", 2, tables.Fault503, single, nil},
		{"single write gives up", 3, tables.Fault503, single, store.ErrUnavailable},
		{"batch survives a dropped answer", 1, tables.FaultDropResponse, multi, nil},
		{"batch gives up on dropped answers", 3, tables.FaultDropResponse, multi, store.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			faults := new(tables.Faults)
			s := newStore(t, func(o *tables.Options) {
				o.PerRetryPolicies = []policy.Policy{faults}
				o.Tables = []string{"f"}
			})
			mustBatch(t, s, "f", store.Op{Kind: store.Insert, Entity: ent("p", "seed", "s")})
			before := faults.Seen()
			faults.FailNext(tc.fail, tc.mode)
			err := tc.run(s)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("got %v, want the retries to absorb the fault", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			attempts := faults.Seen() - before
			if want := min(tc.fail+1, 3); attempts != want {
				t.Fatalf("%d attempts, want %d", attempts, want)
			}
			// the store works again once the faults stop
			faults.Reset()
			if err := tc.run(s); err != nil {
				t.Fatalf("after the faults: %v", err)
			}
		})
	}
}

// TestDroppedInsertAnswer shows what a caller sees when an insert reached
// the service but its answer was lost: the retry meets its own row.
func TestDroppedInsertAnswer(t *testing.T) {
	ctx := context.Background()
	faults := new(tables.Faults)
	s := newStore(t, func(o *tables.Options) { o.PerRetryPolicies = []policy.Policy{faults}; o.Tables = []string{"f"} })
	faults.FailNth(1, tables.FaultDropResponse)
	_, err := s.Batch(ctx, "f", []store.Op{{Kind: store.Insert, Entity: ent("p", "r", "x")}})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("got %v, want ErrExists from the retried insert", err)
	}
	if e, err := s.Get(ctx, "f", "p", "r"); err != nil || string(e.Data) != "x" {
		t.Fatalf("row: %v %q", err, e.Data)
	}
}

func TestContextCancelIsNotUnavailable(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, "f", "p", "r")
	if !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("got %v, want context.Canceled only", err)
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts tables.Options
	}{
		{"nothing", tables.Options{}},
		{"bad prefix", tables.Options{ConnectionString: "UseDevelopmentStorage=true", TablePrefix: "a-b"}},
		{"endpoint without credential", tables.Options{Endpoint: "https://acct.table.core.windows.net"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tables.Open(context.Background(), tc.opts); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := tables.Open(context.Background(), tables.Options{ConnectionString: "UseDevelopmentStorage=true"}); err != nil {
		t.Fatalf("development storage shorthand: %v", err)
	}
}

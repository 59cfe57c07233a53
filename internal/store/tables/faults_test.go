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

// TestLostAnswers: a write reached the service but its answer was lost, so
// the SDK re-sent it and the retry met the write's own result (409 or 412).
// The engine recognises its own work by reading the rows back, and reports
// success; a real conflict stays a conflict.
func TestLostAnswers(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		mode    tables.FaultMode
		ops     func(seed []string) []store.Op
		wantErr error
		check   map[string]string // row -> data afterwards ("" = absent)
	}{
		{"single insert", tables.FaultDropResponse,
			func([]string) []store.Op { return []store.Op{{Kind: store.Insert, Entity: ent("p", "new", "n")}} },
			nil, map[string]string{"new": "n"}},
		{"single replace if-match", tables.FaultDropResponse,
			func(seed []string) []store.Op {
				return []store.Op{{Kind: store.Replace, Entity: ent("p", "a", "a2"), IfMatch: seed[0]}}
			},
			nil, map[string]string{"a": "a2"}},
		{"batch of insert, replace, delete", tables.FaultDropResponse,
			func(seed []string) []store.Op {
				return []store.Op{
					{Kind: store.Insert, Entity: ent("p", "new", "n")},
					{Kind: store.Replace, Entity: ent("p", "a", "a2"), IfMatch: seed[0]},
					{Kind: store.Delete, Entity: ent("p", "b", ""), IfMatch: seed[1]},
				}
			},
			nil, map[string]string{"new": "n", "a": "a2", "b": ""}},
		{"a real conflict after a retry", tables.Fault503,
			func([]string) []store.Op { return []store.Op{{Kind: store.Insert, Entity: ent("p", "a", "other")}} },
			store.ErrExists, map[string]string{"a": "a"}},
		{"a real stale etag after a retry", tables.Fault503,
			func([]string) []store.Op {
				return []store.Op{{Kind: store.Insert, Entity: ent("p", "new", "n")}, {Kind: store.Replace, Entity: ent("p", "a", "x"), IfMatch: "stale"}}
			},
			store.ErrPrecondition, map[string]string{"a": "a", "new": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			faults := new(tables.Faults)
			s := newStore(t, func(o *tables.Options) { o.PerRetryPolicies = []policy.Policy{faults}; o.Tables = []string{"f"} })
			seed := mustBatch(t, s, "f", store.Op{Kind: store.Insert, Entity: ent("p", "a", "a")}, store.Op{Kind: store.Insert, Entity: ent("p", "b", "b")})
			faults.FailNth(1, tc.mode)
			etags, err := s.Batch(ctx, "f", tc.ops(seed))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			for rk, want := range tc.check {
				e, err := s.Get(ctx, "f", "p", rk)
				switch {
				case want == "" && !errors.Is(err, store.ErrNotFound):
					t.Errorf("%s: %v, want it absent", rk, err)
				case want != "" && (err != nil || string(e.Data) != want):
					t.Errorf("%s: %v %q, want %q", rk, err, e.Data, want)
				}
			}
			if tc.wantErr == nil {
				for i, op := range tc.ops(seed) {
					if op.Kind == store.Delete {
						continue
					}
					if e, _ := s.Get(ctx, "f", "p", op.Entity.RowKey); e.ETag != etags[i] {
						t.Errorf("op %d returned etag %q, row has %q", i, etags[i], e.ETag)
					}
				}
			}
		})
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

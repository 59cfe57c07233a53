package enginetest

import (
	"context"
	"errors"

	"github.com/adfscim/adfscim/internal/store"
)

// Split is a store that sends the tables named in byTable to their engine
// and every other table to rest: so a test can count, or break, the
// requests of one part of the service (the directory, the audit trail)
// while the whole service runs on it. Close closes every engine. Split is
// not a store.Follower: use it with engines that are not (Table Storage).
func Split(rest store.Store, byTable map[string]store.Store) store.Store {
	return split{rest: rest, byTable: byTable}
}

type split struct {
	rest    store.Store
	byTable map[string]store.Store
}

func (s split) engine(table string) store.Store {
	if st, ok := s.byTable[table]; ok {
		return st
	}
	return s.rest
}

func (s split) Get(ctx context.Context, table, pk, rk string) (store.Entity, error) {
	return s.engine(table).Get(ctx, table, pk, rk)
}

func (s split) List(ctx context.Context, table string, q store.Query) ([]store.Entity, error) {
	return s.engine(table).List(ctx, table, q)
}

func (s split) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	return s.engine(table).Batch(ctx, table, ops)
}

func (s split) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	return s.engine(table).Scan(ctx, table, fn)
}

// Capabilities is none: a follow-up may go to another table, so to another
// engine, and no commit spans two engines.
func (s split) Capabilities() store.Capabilities { return store.Capabilities{} }

func (s split) Close() error {
	errs := []error{s.rest.Close()}
	for _, st := range s.byTable {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

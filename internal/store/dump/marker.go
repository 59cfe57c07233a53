package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// MarkerTable holds the restore marker: one row, written before a forced
// import starts changing a store that has no atomic replace (Table
// Storage) and deleted after its last write. It is not one of the exported
// tables, and a dump may not name it.
const MarkerTable = "restore"

const (
	markerPK = "restore"
	markerRK = "pending"
)

// ErrRestorePending is matched (errors.Is) by the error of CheckRestore, and
// of a forced Import that stopped part-way: a restore started and did not
// finish, so the store holds part of the old state and part of the backup.
var ErrRestorePending = errors.New("dump: restore did not finish")

// Marker describes the restore in progress.
type Marker struct {
	// Digest is "sha256:" and the hex SHA-256 of the dump's bytes, as
	// sha256sum prints it for the backup file.
	Digest  string    `json:"digest"`
	Rows    int       `json:"rows"`
	Started time.Time `json:"started"`
	// Tables are the tables being replaced.
	Tables []string `json:"tables"`
}

// PendingError reports an unfinished restore; it matches ErrRestorePending.
// Err, when set, is why the forced import that returns it stopped.
type PendingError struct {
	Marker Marker
	Err    error
}

func (e *PendingError) Error() string {
	what := fmt.Sprintf("restore of backup %s (%d rows, started %s)", e.Marker.Digest, e.Marker.Rows, e.Marker.Started.Format(time.RFC3339))
	if e.Err != nil {
		return what + " interrupted: " + e.Err.Error()
	}
	return what + " did not finish"
}

// Is makes errors.Is(err, ErrRestorePending) hold.
func (e *PendingError) Is(target error) bool { return target == ErrRestorePending }

func (e *PendingError) Unwrap() error { return e.Err }

// CheckRestore returns a *PendingError when a forced import into s started
// and did not finish, nil when no restore is pending. Every command but
// import calls it before it works on the store, so that nothing serves or
// changes a half-restored state.
func CheckRestore(ctx context.Context, s store.Store) error {
	e, err := s.Get(ctx, MarkerTable, markerPK, markerRK)
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dump: read the restore marker: %w", err)
	}
	var m Marker
	if err := json.Unmarshal(e.Data, &m); err != nil {
		m.Digest = "(unreadable marker: " + err.Error() + ")"
	}
	return &PendingError{Marker: m}
}

// writeMarker records that a restore of m starts (replacing the marker of
// an earlier, unfinished one).
func writeMarker(ctx context.Context, s store.Store, m Marker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("dump: restore marker: %w", err)
	}
	op := store.Op{Kind: store.Upsert, Entity: store.Entity{PartitionKey: markerPK, RowKey: markerRK, Data: data}}
	if _, err := s.Batch(ctx, MarkerTable, []store.Op{op}); err != nil {
		return fmt.Errorf("dump: write the restore marker: %w", err)
	}
	return nil
}

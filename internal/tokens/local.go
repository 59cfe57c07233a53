package tokens

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// LocalOptions configure the local token source.
type LocalOptions struct {
	// Table is the store table of the token records. Default "tokens".
	Table string
	// StaticToken, when set (SCIM_BEARER_TOKEN), is accepted with all
	// scopes as client StaticClient. Only its digest is kept; it is never
	// written to the store.
	StaticToken string
	// StaticClient names the client of StaticToken. Default "configured".
	StaticClient string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// MinStaticTokenLen is the shortest accepted configured token: anything
// shorter is too easy to guess for a credential that never expires.
const MinStaticTokenLen = 32

// BootstrapClient is the client Bootstrap creates.
const BootstrapClient = "local"

// Partition and row layout of the tokens table. All rows share one
// partition so that a rotation (new record + shortened old ones) is one
// atomic batch.
const (
	localPartition = "token"
	localRowPrefix = "d-" // followed by the hex digest of the token
	bootstrapRow   = "bootstrap"
)

// Local is the token source for runs without Key Vault: token records
// (client, scopes, digest, created, expiry, revoked) live in the store, so
// they survive restarts and work on every engine. Every Authenticate reads
// the record by digest, so a revocation made by the CLI takes effect on the
// next request.
type Local struct {
	st           store.Store
	table        string
	now          func() time.Time
	static       Digest
	hasStatic    bool
	staticClient string
}

// localRecord is the stored form of one token.
type localRecord struct {
	ID        string    `json:"id"`
	Client    string    `json:"client"`
	Scopes    []Scope   `json:"scopes"`
	Digest    string    `json:"sha256"`
	Created   time.Time `json:"created"`
	NotBefore time.Time `json:"notBefore,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
}

func (r localRecord) info() Info {
	return Info{Client: r.Client, Scopes: r.Scopes, KeyID: r.ID, Created: r.Created, NotBefore: r.NotBefore, Expires: r.Expires, Enabled: !r.Revoked}
}

// NewLocal returns a local source on st.
func NewLocal(st store.Store, o LocalOptions) (*Local, error) {
	if o.Table == "" {
		o.Table = "tokens"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StaticClient == "" {
		o.StaticClient = "configured"
	}
	if err := CheckClientName(o.StaticClient); err != nil {
		return nil, err
	}
	l := &Local{st: st, table: o.Table, now: o.Now, staticClient: o.StaticClient}
	if o.StaticToken != "" {
		if len(o.StaticToken) < MinStaticTokenLen {
			return nil, fmt.Errorf("%w: the configured bearer token must be at least %d characters", ErrInvalid, MinStaticTokenLen)
		}
		l.static, l.hasStatic = DigestOf(o.StaticToken), true
	}
	return l, nil
}

// Authenticate implements Authenticator.
func (l *Local) Authenticate(ctx context.Context, token string) (Client, error) {
	if token == "" {
		return Client{}, ErrUnknownToken
	}
	d := DigestOf(token)
	if l.hasStatic && l.static.Equal(d) {
		return Client{Name: l.staticClient, Scopes: slices.Clone(AllScopes), KeyID: "configured"}, nil
	}
	e, err := l.st.Get(ctx, l.table, localPartition, localRowPrefix+hex.EncodeToString(d[:]))
	if store.IsNotFound(err) {
		return Client{}, ErrUnknownToken
	}
	if err != nil {
		return Client{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var r localRecord
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return Client{}, fmt.Errorf("%w: corrupt token record: %w", ErrUnknownToken, err)
	}
	stored, err := hex.DecodeString(r.Digest)
	if err != nil || len(stored) != len(d) || !Digest(stored).Equal(d) {
		return Client{}, ErrUnknownToken
	}
	if !r.info().Active(l.now()) {
		return Client{}, ErrUnknownToken
	}
	return Client{Name: r.Client, Scopes: slices.Clone(r.Scopes), KeyID: r.ID}, nil
}

// newRecord generates a token and its record.
func (l *Local) newRecord(client string, scopes []Scope, expiry time.Duration) (string, localRecord, error) {
	value, err := NewToken()
	if err != nil {
		return "", localRecord{}, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return "", localRecord{}, fmt.Errorf("tokens: generate id: %w", err)
	}
	d := DigestOf(value)
	now := l.now().UTC()
	r := localRecord{ID: hex.EncodeToString(id), Client: client, Scopes: normScopes(scopes), Digest: hex.EncodeToString(d[:]), Created: now}
	if expiry > 0 {
		r.Expires = now.Add(expiry)
	}
	return value, r, nil
}

func (r localRecord) entity() (store.Entity, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return store.Entity{}, err
	}
	return store.Entity{PartitionKey: localPartition, RowKey: localRowPrefix + r.Digest, Data: data}, nil
}

type storedRecord struct {
	localRecord
	etag string
}

// records reads every token record, oldest first.
func (l *Local) records(ctx context.Context) ([]storedRecord, error) {
	es, err := l.st.List(ctx, l.table, store.Query{PartitionKey: localPartition, Prefix: localRowPrefix})
	if err != nil {
		return nil, fmt.Errorf("tokens: list records: %w", err)
	}
	out := make([]storedRecord, 0, len(es))
	for _, e := range es {
		var r localRecord
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return nil, fmt.Errorf("tokens: corrupt record %s: %w", e.RowKey, err)
		}
		out = append(out, storedRecord{r, e.ETag})
	}
	slices.SortStableFunc(out, func(a, b storedRecord) int { return a.Created.Compare(b.Created) })
	return out, nil
}

func validateCreate(client string, scopes []Scope, expiry time.Duration) error {
	if err := CheckClientName(client); err != nil {
		return err
	}
	if len(scopes) == 0 {
		return fmt.Errorf("%w: no scopes given", ErrInvalid)
	}
	for _, s := range scopes {
		if !s.Valid() {
			return fmt.Errorf("%w: unknown scope %q", ErrInvalid, s)
		}
	}
	if expiry < 0 {
		return fmt.Errorf("%w: negative expiry", ErrInvalid)
	}
	return nil
}

// Create implements Manager.
func (l *Local) Create(ctx context.Context, client string, scopes []Scope, expiry time.Duration) (string, error) {
	if err := validateCreate(client, scopes, expiry); err != nil {
		return "", err
	}
	recs, err := l.records(ctx)
	if err != nil {
		return "", err
	}
	now := l.now()
	for _, r := range recs {
		if r.Client == client && r.info().Active(now) {
			return "", fmt.Errorf("%w: %s has an active token; rotate it instead", ErrExists, client)
		}
	}
	value, rec, err := l.newRecord(client, scopes, expiry)
	if err != nil {
		return "", err
	}
	e, err := rec.entity()
	if err != nil {
		return "", err
	}
	if _, err := l.st.Batch(ctx, l.table, []store.Op{{Kind: store.Insert, Entity: e}}); err != nil {
		return "", fmt.Errorf("tokens: store new token: %w", err)
	}
	return value, nil
}

// Rotate implements Manager.
func (l *Local) Rotate(ctx context.Context, client string, overlap time.Duration) (string, error) {
	if err := CheckClientName(client); err != nil {
		return "", err
	}
	if overlap < 0 {
		return "", fmt.Errorf("%w: negative overlap", ErrInvalid)
	}
	recs, err := l.records(ctx)
	if err != nil {
		return "", err
	}
	now := l.now().UTC()
	var active []storedRecord
	for _, r := range recs {
		if r.Client == client && r.info().Active(now) {
			active = append(active, r)
		}
	}
	if len(active) == 0 {
		return "", fmt.Errorf("%w: %s has no active token to rotate", ErrNotFound, client)
	}
	if len(active) >= store.MaxBatchOps {
		return "", fmt.Errorf("%w: %s has %d active tokens; revoke first", ErrInvalid, client, len(active))
	}
	newest := active[len(active)-1]
	var lifetime time.Duration
	if !newest.Expires.IsZero() {
		lifetime = newest.Expires.Sub(newest.Created)
	}
	value, rec, err := l.newRecord(client, newest.Scopes, lifetime)
	if err != nil {
		return "", err
	}
	e, err := rec.entity()
	if err != nil {
		return "", err
	}
	ops := []store.Op{{Kind: store.Insert, Entity: e}}
	end := now.Add(overlap)
	for _, old := range active {
		if !old.Expires.IsZero() && !old.Expires.After(end) {
			continue
		}
		old.Expires = end
		oe, err := old.entity()
		if err != nil {
			return "", err
		}
		ops = append(ops, store.Op{Kind: store.Replace, Entity: oe, IfMatch: old.etag})
	}
	if _, err := l.st.Batch(ctx, l.table, ops); err != nil {
		return "", fmt.Errorf("tokens: store rotation: %w", err)
	}
	return value, nil
}

// List implements Manager.
func (l *Local) List(ctx context.Context) ([]Info, error) {
	recs, err := l.records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.info())
	}
	return out, nil
}

// Revoke implements Manager. Records are kept (marked revoked) so that
// List still shows what existed.
func (l *Local) Revoke(ctx context.Context, client string) error {
	if err := CheckClientName(client); err != nil {
		return err
	}
	recs, err := l.records(ctx)
	if err != nil {
		return err
	}
	found := false
	var ops []store.Op
	for _, r := range recs {
		if r.Client != client {
			continue
		}
		found = true
		if r.Revoked {
			continue
		}
		r.Revoked = true
		e, err := r.entity()
		if err != nil {
			return err
		}
		ops = append(ops, store.Op{Kind: store.Replace, Entity: e, IfMatch: r.etag})
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrNotFound, client)
	}
	for len(ops) > 0 {
		n := min(len(ops), store.MaxBatchOps)
		if _, err := l.st.Batch(ctx, l.table, ops[:n]); err != nil {
			return fmt.Errorf("tokens: store revocation: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// Bootstrap runs on every start of a local deployment. The first time, it
// generates a token for client "local" with all scopes, stores its digest
// and returns the value, for the caller to print once. Afterwards (also
// after that token was revoked) it returns "" and creates nothing. A marker
// row inserted in the same batch makes it safe against two instances
// starting at once.
func (l *Local) Bootstrap(ctx context.Context) (string, error) {
	value, rec, err := l.newRecord(BootstrapClient, AllScopes, 0)
	if err != nil {
		return "", err
	}
	e, err := rec.entity()
	if err != nil {
		return "", err
	}
	marker := store.Entity{PartitionKey: localPartition, RowKey: bootstrapRow, Data: []byte(`{"client":"local"}`)}
	_, err = l.st.Batch(ctx, l.table, []store.Op{{Kind: store.Insert, Entity: marker}, {Kind: store.Insert, Entity: e}})
	var be *store.BatchError
	if errors.As(err, &be) && be.Index == 0 && store.IsExists(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("tokens: bootstrap: %w", err)
	}
	return value, nil
}

var (
	_ Authenticator = (*Local)(nil)
	_ Manager       = (*Local)(nil)
)

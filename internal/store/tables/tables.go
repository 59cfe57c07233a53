// Package tables is the Azure Table Storage engine of the store contract.
//
// Each store row is one Table Storage entity: PartitionKey and RowKey as
// given, Data split into binary properties D0..Dn of at most 64 KiB each (a
// binary property's limit), the Timestamp as the service sets it, and the
// service's ETag bound to the row (see bindETag).
// Tables are named Options.TablePrefix + the contract's table name and are
// created on first write (or at Open for Options.Tables).
//
// Cost, in billed transactions (count them with Counter): Get 1 (a point
// read, or a query for an empty PartitionKey); List and Scan 1 per page of up
// to 1,000 rows; a one-op Batch 1 (the plain entity API, which also returns
// the ETag); a Batch of 2 to 100 ops 1 (an entity group transaction); the
// first write to a table that does not exist yet 2 more (the failed write
// and the table's creation). Retries after 408/429/5xx or a lost connection
// are re-sent (and billed when they reach the service) but counted once.
package tables

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/adfscim/adfscim/internal/store"
)

// chunkSize is the largest binary property Table Storage accepts.
const chunkSize = 64 * 1024

// maxChunks is how many D properties MaxDataSize needs.
const maxChunks = (store.MaxDataSize + chunkSize - 1) / chunkSize

// devConnString is what UseDevelopmentStorage=true means; the SDK rejects the
// short form.
const devConnString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// Options configure Open. Set either ConnectionString or Endpoint plus
// Credential.
type Options struct {
	// ConnectionString is a shared-key connection string.
	// "UseDevelopmentStorage=true" means the local Azurite default.
	ConnectionString string
	// Endpoint is the table service URL (https://<account>.table.core.windows.net)
	// used with Credential (for example a managed identity).
	Endpoint   string
	Credential azcore.TokenCredential
	// TablePrefix is prepended to every table name (letters and digits), so
	// several deployments or tests can share one account.
	TablePrefix string
	// Tables are created at Open when missing. Other tables are created on
	// their first write.
	Tables []string
	// Retry bounds the retries of 408/429/500/502/503/504 and transport
	// errors; zero fields take DefaultRetry's values. Once retries are
	// exhausted the engine returns an error wrapping store.ErrUnavailable.
	Retry policy.RetryOptions
	// Counter, when set, counts this store's transactions; otherwise the
	// store keeps its own (see Transactions).
	Counter *Counter
	// PerCallPolicies and PerRetryPolicies are added to the SDK pipeline
	// (tests use them for fault injection, for example with *Faults).
	PerCallPolicies  []policy.Policy
	PerRetryPolicies []policy.Policy
	// Transport replaces the HTTP client (tests only).
	Transport policy.Transporter
}

// DefaultRetry is the retry budget used for zero fields of Options.Retry:
// at most 3 retries, 0.2 s growing to 2 s between attempts, 10 s per attempt,
// so an operation gives up after roughly 45 s in the worst case, well inside
// the 60 s an identity provider waits.
var DefaultRetry = policy.RetryOptions{
	MaxRetries:    3,
	TryTimeout:    10 * time.Second,
	RetryDelay:    200 * time.Millisecond,
	MaxRetryDelay: 2 * time.Second,
}

// Store is the Table Storage engine. It is safe for concurrent use.
type Store struct {
	svc     *aztables.ServiceClient
	prefix  string
	counter *Counter
}

var _ store.Store = (*Store)(nil)

// Open connects to the table service and creates Options.Tables when
// missing. It makes no request when Options.Tables is empty.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.TablePrefix != "" && !validTableName(opts.TablePrefix+"xyz") {
		return nil, fmt.Errorf("tables: %w: table prefix %q must be letters and digits, starting with a letter", store.ErrInvalid, opts.TablePrefix)
	}
	counter := opts.Counter
	if counter == nil {
		counter = new(Counter)
	}
	retry := opts.Retry
	if retry.MaxRetries == 0 {
		retry.MaxRetries = DefaultRetry.MaxRetries
	}
	if retry.TryTimeout == 0 {
		retry.TryTimeout = DefaultRetry.TryTimeout
	}
	if retry.RetryDelay == 0 {
		retry.RetryDelay = DefaultRetry.RetryDelay
	}
	if retry.MaxRetryDelay == 0 {
		retry.MaxRetryDelay = DefaultRetry.MaxRetryDelay
	}
	co := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:            retry,
		PerCallPolicies:  append([]policy.Policy{counter.Policy(), keyFixPolicy{}}, opts.PerCallPolicies...),
		PerRetryPolicies: append([]policy.Policy{attemptPolicy{}}, opts.PerRetryPolicies...),
		Transport:        opts.Transport,
	}}
	var (
		svc *aztables.ServiceClient
		err error
	)
	switch {
	case opts.ConnectionString != "" && opts.Credential != nil:
		return nil, fmt.Errorf("tables: %w: set a connection string or a credential, not both", store.ErrInvalid)
	case opts.ConnectionString != "":
		cs := opts.ConnectionString
		if strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(cs), ";"), "UseDevelopmentStorage=true") {
			cs = devConnString
		}
		svc, err = aztables.NewServiceClientFromConnectionString(cs, co)
	case opts.Endpoint != "" && opts.Credential != nil:
		svc, err = aztables.NewServiceClient(opts.Endpoint, opts.Credential, co)
	default:
		return nil, fmt.Errorf("tables: %w: need a connection string or an endpoint and a credential", store.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("tables: client: %w", err)
	}
	s := &Store{svc: svc, prefix: opts.TablePrefix, counter: counter}
	for _, t := range opts.Tables {
		if err := s.createTable(ctx, t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Transactions returns the number of requests this store has made so far,
// by kind (shared with any other user of Options.Counter).
func (s *Store) Transactions() Counts { return s.counter.Snapshot() }

// Close releases nothing: the SDK client holds no resources of its own.
// Capabilities reports that Table Storage cannot commit follow-up writes: a
// batch spans one partition of one table.
func (s *Store) Capabilities() store.Capabilities { return store.Capabilities{} }

func (s *Store) Close() error { return nil }

// DeleteTable drops a table (tests and tooling); a missing table is not an
// error.
func (s *Store) DeleteTable(ctx context.Context, table string) error {
	name, err := s.tableName(table)
	if err != nil {
		return err
	}
	_, err = s.svc.DeleteTable(ctx, name, nil)
	if err != nil && !hasCode(err, aztables.ResourceNotFound, aztables.TableNotFound) {
		return wrapErr("delete table "+name, err)
	}
	return nil
}

func validTableName(n string) bool {
	if len(n) < 3 || len(n) > 63 {
		return false
	}
	for i, r := range n {
		letter := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (s *Store) tableName(table string) (string, error) {
	n := s.prefix + table
	if !validTableName(n) {
		return "", fmt.Errorf("tables: %w: table name %q must be 3-63 letters and digits, starting with a letter", store.ErrInvalid, n)
	}
	return n, nil
}

func (s *Store) client(table string) (*aztables.Client, error) {
	n, err := s.tableName(table)
	if err != nil {
		return nil, err
	}
	return s.svc.NewClient(n), nil
}

func (s *Store) createTable(ctx context.Context, table string) error {
	n, err := s.tableName(table)
	if err != nil {
		return err
	}
	_, err = s.svc.CreateTable(ctx, n, nil)
	switch {
	case err == nil, hasCode(err, aztables.TableAlreadyExists):
		return nil
	case isForbidden(err):
		// An identity with Storage Table Data Reader may read the tables but
		// not create them: a read-only command (plan, report, export, audit
		// verify) works as long as they exist, so check that instead.
		pager := s.svc.NewClient(n).NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: to.Ptr[int32](1)})
		if _, perr := pager.NextPage(ctx); perr != nil {
			if isTableNotFound(perr) {
				return fmt.Errorf("tables: table %s does not exist and this identity may not create it (Storage Table Data Contributor can): %w", n, err)
			}
			return wrapErr("read table "+n, perr)
		}
		return nil
	default:
		return wrapErr("create table "+n, err)
	}
}

// isForbidden reports a request the identity has no permission for (Azure
// answers 403 AuthorizationPermissionMismatch to a data reader's write).
func isForbidden(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// Get reads one row.
func (s *Store) Get(ctx context.Context, table, pk, rk string) (store.Entity, error) {
	if !store.ValidKey(pk) || !store.ValidKey(rk) {
		return store.Entity{}, fmt.Errorf("tables: %w: invalid key %q/%q", store.ErrInvalid, pk, rk)
	}
	c, err := s.client(table)
	if err != nil {
		return store.Entity{}, err
	}
	if pk == "" {
		return s.getByQuery(ctx, c, pk, rk)
	}
	resp, err := c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		if isNotFound(err) {
			return store.Entity{}, fmt.Errorf("tables: get %s/%s: %w", pk, rk, store.ErrNotFound)
		}
		return store.Entity{}, wrapErr("get", err)
	}
	e, err := decodeEntity(resp.Value, false)
	if err != nil {
		return store.Entity{}, err
	}
	if resp.ETag != "" {
		e.ETag = bindETag(string(resp.ETag), e.PartitionKey, e.RowKey)
	}
	return e, nil
}

// getByQuery reads one row with a query, for the empty PartitionKey that
// the SDK's point read refuses. It costs one query transaction.
func (s *Store) getByQuery(ctx context.Context, c *aztables.Client, pk, rk string) (store.Entity, error) {
	filter := "PartitionKey eq " + quote(pk) + " and RowKey eq " + quote(rk)
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				break
			}
			return store.Entity{}, wrapErr("get", err)
		}
		if len(page.Entities) > 0 {
			return decodeEntity(page.Entities[0], false)
		}
	}
	return store.Entity{}, fmt.Errorf("tables: get %s/%s: %w", pk, rk, store.ErrNotFound)
}

// List returns the rows of one partition selected by q, following
// continuation tokens until q.Limit rows (or all) are read.
func (s *Store) List(ctx context.Context, table string, q store.Query) ([]store.Entity, error) {
	if err := store.ValidateQuery(q); err != nil {
		return nil, err
	}
	c, err := s.client(table)
	if err != nil {
		return nil, err
	}
	filter := queryFilter(q)
	lo := &aztables.ListEntitiesOptions{Filter: &filter}
	if q.KeysOnly {
		sel := "PartitionKey,RowKey,Timestamp"
		lo.Select = &sel
	}
	if q.Limit > 0 {
		top := int32(min(q.Limit, 1000))
		lo.Top = &top
	}
	var out []store.Entity
	pager := c.NewListEntitiesPager(lo)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				return out, nil // a table never written to has no rows
			}
			return nil, wrapErr("list", err)
		}
		for _, raw := range page.Entities {
			e, err := decodeEntity(raw, q.KeysOnly)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// Scan calls fn for every row of the table, page by page.
func (s *Store) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	c, err := s.client(table)
	if err != nil {
		return err
	}
	pager := c.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				return nil
			}
			return wrapErr("scan", err)
		}
		for _, raw := range page.Entities {
			e, err := decodeEntity(raw, false)
			if err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// quote makes s an OData string literal: single quotes are doubled, so no
// value can end the literal and widen the filter.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// queryFilter builds the OData filter of q. Every value goes through quote.
func queryFilter(q store.Query) string {
	f := "PartitionKey eq " + quote(q.PartitionKey)
	if q.Prefix != "" {
		f += " and RowKey ge " + quote(q.Prefix)
		if next, ok := prefixEnd(q.Prefix); ok {
			f += " and RowKey lt " + quote(next)
		}
	}
	if q.After != "" {
		f += " and RowKey gt " + quote(q.After)
	}
	return f
}

// prefixEnd returns the smallest string greater than every string that
// starts with p, or false when there is none (p is all U+10FFFF).
func prefixEnd(p string) (string, bool) {
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i] + 1
		if r == 0xD800 { // skip the surrogate range, which is not valid UTF-8
			r = 0xE000
		}
		if r <= 0x10FFFF {
			rs[i] = r
			return string(rs[:i+1]), true
		}
	}
	return "", false
}

// encodeEntity renders e as the JSON entity the SDK sends.
func encodeEntity(e store.Entity) ([]byte, error) {
	m := map[string]any{"PartitionKey": e.PartitionKey, "RowKey": e.RowKey}
	for i := 0; i*chunkSize < len(e.Data); i++ {
		end := min((i+1)*chunkSize, len(e.Data))
		k := fmt.Sprintf("D%d", i)
		m[k] = base64.StdEncoding.EncodeToString(e.Data[i*chunkSize : end])
		m[k+"@odata.type"] = "Edm.Binary"
	}
	return json.Marshal(m)
}

// decodeEntity reads an entity as the service returns it (minimal metadata).
func decodeEntity(raw []byte, keysOnly bool) (store.Entity, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return store.Entity{}, fmt.Errorf("tables: decode entity: %w", err)
	}
	var e store.Entity
	e.PartitionKey, _ = m["PartitionKey"].(string)
	e.RowKey, _ = m["RowKey"].(string)
	svcETag, _ := m["odata.etag"].(string)
	e.ETag = bindETag(svcETag, e.PartitionKey, e.RowKey)
	if ts, ok := m["Timestamp"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			e.Timestamp = t
		}
	}
	if keysOnly {
		return e, nil
	}
	data := []byte{}
	for i := 0; i < maxChunks; i++ {
		v, ok := m[fmt.Sprintf("D%d", i)].(string)
		if !ok {
			break
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return store.Entity{}, fmt.Errorf("tables: decode D%d of %s/%s: %w", i, e.PartitionKey, e.RowKey, err)
		}
		data = append(data, b...)
	}
	e.Data = data
	return e, nil
}

// hasCode reports whether err is a service error with one of codes.
func hasCode(err error, codes ...aztables.TableErrorCode) bool {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range codes {
		if re.ErrorCode == string(c) {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

func isTableNotFound(err error) bool { return hasCode(err, aztables.TableNotFound) }

// wrapErr maps what is left after the SDK's retries: throttling, server
// errors, timeouts and transport failures become store.ErrUnavailable; the
// caller's own cancellation stays as it is.
func wrapErr(what string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch {
		case re.StatusCode == http.StatusRequestTimeout, re.StatusCode == http.StatusTooManyRequests, re.StatusCode >= 500:
			return fmt.Errorf("tables: %s: %w (%w)", what, store.ErrUnavailable, err)
		}
		return fmt.Errorf("tables: %s: %w", what, err)
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("tables: %s: %w", what, err)
	case errors.Is(err, context.DeadlineExceeded), // a try's timeout, or the caller's deadline
		errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("tables: %s: %w (%w)", what, store.ErrUnavailable, err)
	}
	return fmt.Errorf("tables: %s: %w", what, err) // a client-side error: not worth retrying
}

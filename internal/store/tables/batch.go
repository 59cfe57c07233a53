package tables

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/adfscim/adfscim/internal/store"
)

// Batch applies ops atomically. A single op goes through the plain entity
// API (one transaction, and the service returns its ETag directly); several
// go through one entity group transaction. The batch is validated first,
// because Azurite does not enforce the 100-op and one-partition limits.
func (s *Store) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if err := store.ValidateBatch(ops); err != nil {
		return nil, err
	}
	c, err := s.client(table)
	if err != nil {
		return nil, err
	}
	submit := s.submit
	if len(ops) == 1 {
		submit = s.single
	}
	run := func(ctx context.Context, c *aztables.Client, ops []store.Op) ([]string, error) {
		ctx, tries := withAttempts(ctx)
		etags, err := submit(ctx, c, ops)
		if err != nil && tries.n.Load() > 1 && (store.IsExists(err) || store.IsPrecondition(err)) {
			// The SDK re-sent the batch after a lost answer or a timeout: the
			// first attempt may have been applied, and the retry then meets
			// its own work. If the rows are exactly what this batch writes,
			// it succeeded.
			if etags, ok := s.appliedAlready(ctx, table, ops); ok {
				return etags, nil
			}
		}
		return etags, err
	}
	etags, err := run(ctx, c, ops)
	if err != nil && isTableNotFound(err) && createsRows(ops) {
		// First write to this table: create it and try once more.
		if err := s.createTable(ctx, table); err != nil {
			return nil, err
		}
		etags, err = run(ctx, c, ops)
	}
	if err != nil && isTableNotFound(err) {
		// Replace or Delete in a table that does not exist: the row is absent.
		return nil, &store.BatchError{Index: 0, Op: ops[0], Err: fmt.Errorf("tables: %w", store.ErrNotFound)}
	}
	return etags, err
}

// appliedAlready reads back every row of ops and reports whether the store
// holds exactly what the batch writes (and lacks what it deletes), with the
// rows' ETags. A Touch changes nothing to compare, so its row need only
// exist.
func (s *Store) appliedAlready(ctx context.Context, table string, ops []store.Op) ([]string, bool) {
	etags := make([]string, len(ops))
	for i, op := range ops {
		e, err := s.Get(ctx, table, op.Entity.PartitionKey, op.Entity.RowKey)
		switch {
		case op.Kind == store.Delete:
			if !store.IsNotFound(err) {
				return nil, false
			}
		case err != nil:
			return nil, false
		case op.Kind == store.Touch:
			etags[i] = e.ETag
		case bytes.Equal(e.Data, op.Entity.Data):
			etags[i] = e.ETag
		default:
			return nil, false
		}
	}
	return etags, true
}

// attempts counts how often the SDK sent one call (the retry policy re-sends).
type attempts struct{ n atomic.Int32 }

type attemptsCtx struct{}

func withAttempts(ctx context.Context) (context.Context, *attempts) {
	a := new(attempts)
	return context.WithValue(ctx, attemptsCtx{}, a), a
}

// attemptPolicy is a per-retry policy feeding attempts.
type attemptPolicy struct{}

func (attemptPolicy) Do(req *policy.Request) (*http.Response, error) {
	if a, ok := req.Raw().Context().Value(attemptsCtx{}).(*attempts); ok {
		a.n.Add(1)
	}
	return req.Next()
}

// tableMissing wraps a TableNotFound answer so Batch can create the table.
type tableMissing struct{ err error }

func (t tableMissing) Error() string { return t.err.Error() }
func (t tableMissing) Unwrap() error { return t.err }

func createsRows(ops []store.Op) bool {
	for _, op := range ops {
		if op.Kind == store.Insert || op.Kind == store.Upsert {
			return true
		}
	}
	return false
}

// neverMatches is a well-formed Table Storage ETag that no row can have.
const neverMatches = azcore.ETag(`W/"datetime'1900-01-01T00%3A00%3A00.0000000Z'"`)

// The service's ETag is its Timestamp, and every row written by one batch
// gets the same Timestamp, so the ETag of one row may equal that of another:
// a caller passing row A's ETag to a write of row B would then succeed. The
// engine binds each ETag it hands out to its row with a short digest of the
// keys, and refuses an ETag bound to another row as stale.

// bindETag turns the service's ETag of row pk/rk into the engine's.
func bindETag(svc, pk, rk string) string {
	if svc == "" {
		return ""
	}
	return svc + ";" + rowTag(pk, rk)
}

// ifMatch is the service ETag to send for op's IfMatch: nil for none,
// neverMatches when op.IfMatch is not an ETag this engine gave out for
// op's row (the service would answer 400 to a malformed one, and another
// row's ETag can never be a version of this one), so the answer is the
// contract's 404 or 412.
func ifMatch(op store.Op) *azcore.ETag {
	if op.IfMatch == "" {
		return nil
	}
	e := neverMatches
	svc, tag, ok := strings.Cut(op.IfMatch, ";")
	if ok && tag == rowTag(op.Entity.PartitionKey, op.Entity.RowKey) && wellFormedETag(svc) {
		e = azcore.ETag(svc)
	}
	return &e
}

// rowTag is a digest of a row's keys (FNV-1a, 32 bits, in hex).
func rowTag(pk, rk string) string {
	h := fnv.New32a()
	h.Write([]byte(pk))
	h.Write([]byte{0})
	h.Write([]byte(rk))
	return fmt.Sprintf("%08x", h.Sum32())
}

// wellFormedETag reports whether s has the form of a Table Storage ETag,
// W/"datetime'<url-encoded timestamp>'".
func wellFormedETag(s string) bool {
	return strings.HasPrefix(s, `W/"datetime'`) && strings.HasSuffix(s, `'"`) && len(s) > len(`W/"datetime''"`)
}

// single applies a one-op batch with the plain entity API.
func (s *Store) single(ctx context.Context, c *aztables.Client, ops []store.Op) ([]string, error) {
	op := ops[0]
	var (
		etag azcore.ETag
		err  error
	)
	ctx = withKeyFix(ctx, []batchKey{{op.Entity.PartitionKey, op.Entity.RowKey}})
	wire := op.Entity
	wire.PartitionKey = wirePK(wire.PartitionKey)
	if op.Kind == store.Touch {
		wire.Data = nil
	}
	if op.Kind == store.Delete {
		_, err = c.DeleteEntity(ctx, wire.PartitionKey, wire.RowKey, &aztables.DeleteEntityOptions{IfMatch: ifMatch(op)})
	} else {
		body, encErr := encodeEntity(wire)
		if encErr != nil {
			return nil, encErr
		}
		switch op.Kind {
		case store.Insert:
			var r aztables.AddEntityResponse
			r, err = c.AddEntity(ctx, body, nil)
			etag = r.ETag
		case store.Replace:
			var r aztables.UpdateEntityResponse
			r, err = c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: ifMatch(op)})
			etag = r.ETag
		case store.Touch:
			// A merge of no properties: only the ETag and Timestamp change.
			// The SDK sends If-Match: * when IfMatch is nil, so an absent row
			// fails with 404 instead of being created.
			var r aztables.UpdateEntityResponse
			r, err = c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeMerge, IfMatch: ifMatch(op)})
			etag = r.ETag
		case store.Upsert:
			var r aztables.UpsertEntityResponse
			r, err = c.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
			etag = r.ETag
		}
	}
	if err != nil {
		if isTableNotFound(err) {
			return nil, tableMissing{err}
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			if sentinel := statusSentinel(re.StatusCode); sentinel != nil {
				return nil, &store.BatchError{Index: 0, Op: op, Err: fmt.Errorf("tables: %w (%s)", sentinel, re.ErrorCode)}
			}
		}
		return nil, wrapErr(op.Kind.String(), err)
	}
	if op.Kind == store.Delete {
		return []string{""}, nil
	}
	return []string{bindETag(string(etag), op.Entity.PartitionKey, op.Entity.RowKey)}, nil
}

// statusSentinel maps the status of a failed operation to the contract.
func statusSentinel(status int) error {
	switch status {
	case http.StatusConflict:
		return store.ErrExists
	case http.StatusPreconditionFailed:
		return store.ErrPrecondition
	case http.StatusNotFound:
		return store.ErrNotFound
	}
	return nil
}

// maxBatchBody is Table Storage's limit on an entity group transaction's
// request body; batchOpOverhead bounds what each operation adds to its
// entity's JSON (MIME headers, request line, URL with escaped keys).
const (
	maxBatchBody    = 4 << 20
	batchOpOverhead = 1024 + 6*store.MaxKeyLen
)

// submit applies several ops as one entity group transaction and reads the
// ETags (or the failed op) from the multipart answer, which the SDK drops.
func (s *Store) submit(ctx context.Context, c *aztables.Client, ops []store.Op) ([]string, error) {
	actions := make([]aztables.TransactionAction, len(ops))
	size := 0
	for i, op := range ops {
		ent := op.Entity
		ent.PartitionKey = wirePK(ent.PartitionKey)
		if op.Kind == store.Delete || op.Kind == store.Touch {
			ent.Data = nil
		}
		body, err := encodeEntity(ent)
		if err != nil {
			return nil, err
		}
		size += len(body) + batchOpOverhead
		if size > maxBatchBody {
			return nil, fmt.Errorf("tables: %w: batch body would exceed %d bytes at op %d (Table Storage's 4 MiB limit); split it", store.ErrInvalid, maxBatchBody, i)
		}
		a := aztables.TransactionAction{Entity: body, IfMatch: ifMatch(op)}
		switch op.Kind {
		case store.Insert:
			a.ActionType = aztables.TransactionTypeAdd
		case store.Replace:
			a.ActionType = aztables.TransactionTypeUpdateReplace
			if a.IfMatch == nil {
				any := azcore.ETagAny
				a.IfMatch = &any // replace, never insert, when the row is absent
			}
		case store.Touch:
			a.ActionType = aztables.TransactionTypeUpdateMerge
			if a.IfMatch == nil {
				any := azcore.ETagAny
				a.IfMatch = &any // merge, never insert, when the row is absent
			}
		case store.Upsert:
			a.ActionType = aztables.TransactionTypeInsertReplace
			a.IfMatch = nil
		case store.Delete:
			a.ActionType = aztables.TransactionTypeDelete
		}
		actions[i] = a
	}
	keys := make([]batchKey, len(ops))
	for i, op := range ops {
		keys[i] = batchKey{op.Entity.PartitionKey, op.Entity.RowKey}
	}
	var raw *http.Response
	_, err := c.SubmitTransaction(policy.WithCaptureResponse(withKeyFix(ctx, keys), &raw), actions, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.StatusCode == http.StatusAccepted) {
		if isTableNotFound(err) {
			return nil, tableMissing{err}
		}
		return nil, wrapErr("batch", err)
	}
	if raw == nil && re != nil {
		raw = re.RawResponse
	}
	if raw == nil {
		return nil, fmt.Errorf("tables: batch: no response captured")
	}
	body, perr := runtime.Payload(raw)
	if perr != nil {
		return nil, wrapErr("batch: read answer", perr)
	}
	parts, perr := parseBatchResponse(raw.Header.Get("Content-Type"), body)
	if perr != nil {
		return nil, fmt.Errorf("tables: batch: %w", perr)
	}
	for i, p := range parts {
		if p.status < 400 {
			continue
		}
		idx := p.index
		if idx < 0 || idx >= len(ops) {
			idx = 0
			if len(parts) == len(ops) {
				idx = i
			}
		}
		if p.code == string(aztables.TableNotFound) {
			return nil, tableMissing{&azcore.ResponseError{ErrorCode: p.code, StatusCode: p.status, RawResponse: raw}}
		}
		if sentinel := statusSentinel(p.status); sentinel != nil {
			return nil, &store.BatchError{Index: idx, Op: ops[idx], Err: fmt.Errorf("tables: %w (%s)", sentinel, p.code)}
		}
		err := fmt.Errorf("tables: batch op %d failed: %d %s: %s", idx, p.status, p.code, p.message)
		if p.status == http.StatusRequestTimeout || p.status == http.StatusTooManyRequests || p.status >= 500 {
			err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		} else if p.status == http.StatusBadRequest || p.status == http.StatusRequestEntityTooLarge {
			err = fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		return nil, &store.BatchError{Index: idx, Op: ops[idx], Err: err}
	}
	if err != nil {
		return nil, wrapErr("batch", err)
	}
	if len(parts) != len(ops) {
		return nil, fmt.Errorf("tables: batch: %d answers for %d operations", len(parts), len(ops))
	}
	etags := make([]string, len(ops))
	for i, p := range parts {
		if ops[i].Kind != store.Delete {
			etags[i] = bindETag(p.etag, ops[i].Entity.PartitionKey, ops[i].Entity.RowKey)
		}
	}
	return etags, nil
}

// batchPart is one inner answer of an entity group transaction.
type batchPart struct {
	status  int
	etag    string
	code    string
	message string
	index   int // from the "N:" prefix of an error message, else -1
}

// parseBatchResponse reads a $batch answer: a multipart/mixed body holding
// one changeset (itself multipart/mixed) of application/http answers.
func parseBatchResponse(contentType string, body []byte) ([]batchPart, error) {
	outer := boundaryOf(contentType, body)
	mr := multipart.NewReader(bytes.NewReader(body), outer)
	cs, err := mr.NextPart()
	if err != nil {
		return nil, fmt.Errorf("read batch answer: %w", err)
	}
	csBody, err := io.ReadAll(cs)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read changeset: %w", err)
	}
	inner := boundaryOf(cs.Header.Get("Content-Type"), csBody)
	ir := multipart.NewReader(bytes.NewReader(csBody), inner)
	var parts []batchPart
	for {
		p, err := ir.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read changeset part: %w", err)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("read changeset part: %w", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			return nil, fmt.Errorf("parse changeset answer: %w", err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bp := batchPart{status: resp.StatusCode, etag: resp.Header.Get("ETag"), index: -1}
		if resp.StatusCode >= 400 {
			var e struct {
				OData struct {
					Code    string `json:"code"`
					Message struct {
						Value string `json:"value"`
					} `json:"message"`
				} `json:"odata.error"`
			}
			_ = json.Unmarshal(rb, &e)
			bp.code = e.OData.Code
			if bp.code == "" {
				bp.code = resp.Header.Get("x-ms-error-code")
			}
			bp.message = e.OData.Message.Value
			if n, _, ok := strings.Cut(bp.message, ":"); ok {
				if i, err := strconv.Atoi(n); err == nil {
					bp.index = i
				}
			}
		}
		parts = append(parts, bp)
	}
	return parts, nil
}

// boundaryOf takes the boundary from a Content-Type header, or else from the
// body's first line ("--boundary").
func boundaryOf(contentType string, body []byte) string {
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["boundary"] != "" {
		return params["boundary"]
	}
	line, _, _ := bytes.Cut(body, []byte("\n"))
	return strings.TrimPrefix(strings.TrimSpace(string(line)), "--")
}

package tables

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// The SDK builds the URL of each operation inside a $batch from the raw keys,
// while the single-entity calls double the single quotes as OData requires.
// Azure rejects a batch whose key holds an undoubled quote ("Syntax error:
// character ... is not valid"), and such keys are common (userName o'brien).
// batchKeyPolicy rewrites the key segment of each operation's request line
// with doubled quotes; the entity bodies keep the real keys.

type batchKeysCtx struct{}

// batchKey is the (PartitionKey, RowKey) of one batch operation.
type batchKey struct{ pk, rk string }

func withBatchKeys(ctx context.Context, keys []batchKey) context.Context {
	for _, k := range keys {
		if strings.Contains(k.pk, "'") || strings.Contains(k.rk, "'") {
			return context.WithValue(ctx, batchKeysCtx{}, keys)
		}
	}
	return ctx // nothing to fix: skip the rewrite
}

type batchKeyPolicy struct{}

func (batchKeyPolicy) Do(req *policy.Request) (*http.Response, error) {
	keys, ok := req.Raw().Context().Value(batchKeysCtx{}).([]batchKey)
	if !ok || !strings.HasSuffix(req.Raw().URL.Path, "$batch") || req.Body() == nil {
		return req.Next()
	}
	body, err := io.ReadAll(req.Body())
	if err != nil {
		return nil, fmt.Errorf("tables: read batch body: %w", err)
	}
	fixed, err := doubleBatchKeyQuotes(body, keys)
	if err != nil {
		return nil, err
	}
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(fixed)), req.Raw().Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return req.Next()
}

// doubleBatchKeyQuotes rewrites, in order, the request lines of the batch's
// operations that address an entity by key. Operation i of the batch is the
// i-th "application/http" part, so lines are matched to keys by position.
func doubleBatchKeyQuotes(body []byte, keys []batchKey) ([]byte, error) {
	lines := bytes.Split(body, []byte("\r\n"))
	op := -1
	for i, l := range lines {
		s := string(l)
		if !strings.HasSuffix(s, " HTTP/1.1") {
			continue
		}
		op++
		if op >= len(keys) {
			return nil, fmt.Errorf("tables: batch body has more operations than keys")
		}
		start := strings.Index(s, "(PartitionKey='")
		if start < 0 {
			continue // an insert: the keys are only in the body
		}
		end := len(s) - len(" HTTP/1.1")
		if q := strings.IndexByte(s[start:end], '?'); q >= 0 {
			end = start + q
		}
		k := keys[op]
		seg := fmt.Sprintf("(PartitionKey='%s',RowKey='%s')",
			url.PathEscape(strings.ReplaceAll(k.pk, "'", "''")), url.PathEscape(strings.ReplaceAll(k.rk, "'", "''")))
		lines[i] = []byte(s[:start] + seg + s[end:])
	}
	if op+1 != len(keys) {
		return nil, fmt.Errorf("tables: batch body has %d operations for %d keys", op+1, len(keys))
	}
	return bytes.Join(lines, []byte("\r\n")), nil
}

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

// The SDK gets two kinds of keys wrong on the wire, and keyFixPolicy mends
// its requests before they are signed and sent:
//
//   - Inside a $batch it puts raw keys in each operation's URL, while OData
//     needs single quotes doubled; Azure rejects such a batch ("Syntax
//     error: character ... is not valid"), and such keys are common (userName
//     o'brien). The single-entity calls double the quotes themselves.
//   - It refuses an empty PartitionKey for every call that addresses an
//     entity by key, though Table Storage allows it. The engine then sends
//     emptyPK in its place, and the policy turns it back into "" in the URL
//     and (padded with JSON whitespace, so no length changes) in the body.

// emptyPK stands in for an empty PartitionKey between the engine and
// keyFixPolicy, only for requests whose context carries the real keys.
const emptyPK = "emptypk"

var (
	emptyPKJSON  = []byte(`"PartitionKey":"` + emptyPK + `"`)
	emptyPKFixed = []byte(`"PartitionKey":""` + strings.Repeat(" ", len(emptyPK)))
	emptyPKPath  = "(PartitionKey='" + emptyPK + "',"
)

// wirePK is the PartitionKey the engine hands to the SDK.
func wirePK(pk string) string {
	if pk == "" {
		return emptyPK
	}
	return pk
}

type keyFixCtx struct{}

// batchKey is the (PartitionKey, RowKey) of one operation.
type batchKey struct{ pk, rk string }

// withKeyFix tells keyFixPolicy the real keys of a request's operations,
// when there is anything to mend.
func withKeyFix(ctx context.Context, keys []batchKey) context.Context {
	for _, k := range keys {
		if k.pk == "" || strings.Contains(k.pk, "'") || strings.Contains(k.rk, "'") {
			return context.WithValue(ctx, keyFixCtx{}, keys)
		}
	}
	return ctx
}

type keyFixPolicy struct{}

func (keyFixPolicy) Do(req *policy.Request) (*http.Response, error) {
	keys, ok := req.Raw().Context().Value(keyFixCtx{}).([]batchKey)
	if !ok {
		return req.Next()
	}
	isBatch := strings.HasSuffix(req.Raw().URL.Path, "$batch")
	if !isBatch {
		u := req.Raw().URL
		u.Path = strings.Replace(u.Path, emptyPKPath, "(PartitionKey='',", 1)
		u.RawPath = strings.Replace(u.RawPath, emptyPKPath, "(PartitionKey='',", 1)
	}
	if req.Body() == nil {
		return req.Next()
	}
	body, err := io.ReadAll(req.Body())
	if err != nil {
		return nil, fmt.Errorf("tables: read request body: %w", err)
	}
	if isBatch {
		if body, err = fixBatchRequestLines(body, keys); err != nil {
			return nil, err
		}
	}
	body = bytes.ReplaceAll(body, emptyPKJSON, emptyPKFixed)
	if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), req.Raw().Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	return req.Next()
}

// fixBatchRequestLines rewrites the key segment of each operation's request
// line from the real keys, quotes doubled. Operation i of the batch is the
// i-th "application/http" part, so lines are matched to keys by position.
func fixBatchRequestLines(body []byte, keys []batchKey) ([]byte, error) {
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

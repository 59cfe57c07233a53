package tables

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Kind classifies a storage transaction for the Counter.
type Kind int

// Transaction kinds. Table Storage bills each of them as one transaction.
const (
	KindRead  Kind = iota // point read of one entity
	KindQuery             // one page of a query (List or Scan)
	KindWrite             // single-entity insert, update, upsert or delete
	KindBatch             // one entity group transaction ($batch)
	KindTable             // table management (create)
	numKinds
)

// Counts is a snapshot of a Counter.
type Counts struct {
	Read, Query, Write, Batch, Table int64
}

// Total is the number of billed transactions.
func (c Counts) Total() int64 { return c.Read + c.Query + c.Write + c.Batch + c.Table }

// Sub returns c minus an earlier snapshot, for the cost of the steps between.
func (c Counts) Sub(before Counts) Counts {
	return Counts{c.Read - before.Read, c.Query - before.Query, c.Write - before.Write, c.Batch - before.Batch, c.Table - before.Table}
}

// Counter counts the storage requests an engine makes, by kind. It is safe
// for concurrent use; its zero value is ready. One Counter may be shared by
// several Stores (for example by a load harness).
type Counter struct {
	n [numKinds]atomic.Int64
}

// Snapshot returns the current counts.
func (c *Counter) Snapshot() Counts {
	return Counts{c.n[KindRead].Load(), c.n[KindQuery].Load(), c.n[KindWrite].Load(), c.n[KindBatch].Load(), c.n[KindTable].Load()}
}

// Policy returns the per-call pipeline policy that feeds the counter. A
// per-call policy sees each operation once, however often the retry policy
// re-sends it.
func (c *Counter) Policy() policy.Policy { return counterPolicy{c} }

type counterPolicy struct{ c *Counter }

func (p counterPolicy) Do(req *policy.Request) (*http.Response, error) {
	p.c.n[classify(req.Raw())].Add(1)
	return req.Next()
}

// classify tells the kind of a Table Storage request from its method and path.
func classify(r *http.Request) Kind {
	path := r.URL.Path
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case last == "$batch":
		return KindBatch
	case strings.HasPrefix(last, "Tables"):
		return KindTable
	case r.Method == http.MethodGet && strings.HasSuffix(last, ")") && strings.Contains(last, "RowKey="):
		return KindRead
	case r.Method == http.MethodGet:
		return KindQuery
	}
	return KindWrite
}

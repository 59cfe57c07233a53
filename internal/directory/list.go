package directory

import (
	"container/heap"
	"context"
	"sort"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Lookup is an equality lookup that an index answers: userName, externalId
// or id for users; displayName, externalId or id for groups.
type Lookup struct {
	Attr  string // canonical attribute name
	Value string
}

// ListOptions select and page resources.
type ListOptions struct {
	// Lookup narrows the candidates through an index before Match runs.
	Lookup *Lookup
	// Match keeps a resource when it returns true; nil keeps all. It gets
	// the resource's attributes with id and meta (created, lastModified,
	// resourceType) filled in.
	Match func(attrs map[string]any) bool
	// StartIndex is 1-based; Count is the page size (0: only the total).
	StartIndex int
	Count      int
	// WithRelations loads the groups of users or the members of groups on
	// the returned page.
	WithRelations bool
	// MatchRelations gives Match the groups of users or the members of
	// groups (a filter on groups.value or members.value); it costs a read
	// per candidate, so only such filters ask for it.
	MatchRelations bool
	// After, for cursor pagination, keeps only resources whose id sorts
	// after it on the page (the total still counts them all); StartIndex is
	// then ignored.
	After string
	// Less orders the results (sortBy); nil keeps the stable id order. It
	// gets the attributes as Match does.
	Less func(a, b map[string]any) bool
}

// ListResult is one page and the exact number of matching resources.
type ListResult struct {
	Total     int
	Resources []*Resource
	// More reports that resources follow the page (for cursors).
	More bool
}

// candidate is a matching resource with its decoded attributes (kept only
// when sorting needs them).
type candidate struct {
	res   *Resource
	attrs map[string]any
}

// scanPage is how many rows one store read returns while scanning.
const scanPage = 1000

// List returns the resources of typ that match, in a stable order (by id),
// holding at most one page of resources in memory.
func (s *Service) List(ctx context.Context, typ Kind, opts ListOptions) (*ListResult, error) {
	k, _, err := s.kindOf(typ)
	if err != nil {
		return nil, err
	}
	start := max(opts.StartIndex, 1)
	if opts.After != "" {
		start = 1
	}
	out := &ListResult{}
	// Without sorting, the page is the window [start, start+count) of the
	// stable id order. With sorting, a bounded heap keeps the best
	// start+count-1 candidates: memory grows with the page asked for, never
	// with the number of resources.
	var top *candidateHeap
	if opts.Less != nil {
		top = &candidateHeap{less: opts.Less, limit: start - 1 + opts.Count}
	}
	keep := func(r *Resource) error {
		var attrs map[string]any
		if opts.Match != nil || opts.Less != nil {
			var err error
			if attrs, err = r.Attrs(); err != nil {
				return err
			}
			attrs["meta"] = map[string]any{
				"resourceType": k.name,
				"created":      r.Created.Format(time.RFC3339Nano),
				"lastModified": r.Modified.Format(time.RFC3339Nano),
			}
			if opts.MatchRelations {
				if err := s.addRelations(ctx, k, r, attrs); err != nil {
					return err
				}
			}
			if opts.Match != nil && !opts.Match(attrs) {
				return nil
			}
		}
		out.Total++
		if top != nil {
			top.offer(candidate{res: r, attrs: attrs})
			return nil
		}
		if opts.After != "" && r.ID <= opts.After {
			return nil // before the cursor: counted in the total, not on the page
		}
		if out.Total >= start && len(out.Resources) < opts.Count {
			out.Resources = append(out.Resources, r)
		} else if out.Total >= start {
			out.More = true
		}
		return nil
	}
	finish := func() {
		if top == nil {
			return
		}
		sorted := top.sorted()
		if len(sorted) >= start {
			for _, c := range sorted[start-1:] {
				out.Resources = append(out.Resources, c.res)
			}
		}
		out.More = out.Total > start-1+len(out.Resources)
	}
	if opts.Lookup != nil {
		ids, indexed, err := s.lookupIDs(ctx, k, *opts.Lookup)
		if err != nil {
			return nil, err
		}
		if indexed {
			sort.Strings(ids)
			for _, id := range ids {
				r, err := s.Get(ctx, k.name, id, GetOptions{WithRelations: opts.WithRelations})
				if scim.IsNotFound(err) {
					continue // the index row outlived its resource by a moment
				}
				if err != nil {
					return nil, err
				}
				if err := keep(r); err != nil {
					return nil, err
				}
			}
			finish()
			return out, nil
		}
	}
	// The whole set is scanned even after a cursor: totalResults stays exact.
	if err := s.scan(ctx, k, keep); err != nil {
		return nil, err
	}
	finish()
	if opts.WithRelations {
		for i, r := range out.Resources {
			full, err := s.Get(ctx, k.name, r.ID, GetOptions{WithRelations: true})
			if scim.IsNotFound(err) {
				continue // deleted meanwhile: keep what was read
			}
			if err != nil {
				return nil, err
			}
			out.Resources[i] = full
		}
	}
	return out, nil
}

// scan streams every resource row of kind k in RowKey order.
func (s *Service) scan(ctx context.Context, k kind, fn func(*Resource) error) error {
	after := ""
	for {
		rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: k.resPrefix, After: after, Limit: scanPage})
		if err != nil {
			return err
		}
		for _, e := range rows {
			id := strings.TrimPrefix(e.RowKey, k.resPrefix)
			if strings.Contains(id, sep) {
				continue // a reverse membership row
			}
			r, err := decodeRow(k.name, e)
			if err != nil {
				return err
			}
			r.ID = id
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(rows) < scanPage {
			return nil
		}
		after = rows[len(rows)-1].RowKey
	}
}

// lookupIDs answers an equality lookup from the index rows. indexed is
// false when the attribute has no index.
func (s *Service) lookupIDs(ctx context.Context, k kind, l Lookup) (ids []string, indexed bool, err error) {
	switch {
	case strings.EqualFold(l.Attr, "id"):
		if ValidID(l.Value) {
			ids = []string{l.Value}
		}
	case strings.EqualFold(l.Attr, k.uniqueAttr):
		// The folded key, then the keys a row written before names were
		// folded may still have (none for ASCII names).
		for _, key := range append([]string{k.nameKey(l.Value)}, k.legacyNameKeys(l.Value)...) {
			e, err := s.st.Get(ctx, Table, Partition, key)
			if store.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, true, err
			}
			return []string{string(e.Data)}, true, nil
		}
		return nil, true, nil
	case strings.EqualFold(l.Attr, "externalId"):
		prefix := k.extPrefixFor(l.Value)
		rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: prefix, KeysOnly: true})
		if err != nil {
			return nil, true, err
		}
		for _, r := range rows {
			// The prefix of externalId "a" also covers rows of "a|b":
			// only a bare id after it is a hit.
			if id := strings.TrimPrefix(r.RowKey, prefix); ValidID(id) {
				ids = append(ids, id)
			}
		}
	default:
		return nil, false, nil
	}
	return ids, true, nil
}

// candidateHeap keeps the limit best candidates by less: a max-heap on less,
// so the worst of the kept ones is evicted first.
type candidateHeap struct {
	less  func(a, b map[string]any) bool
	limit int
	items []candidate
}

// before orders candidates by less, ties by id, so sorting is stable.
func (h *candidateHeap) before(a, b candidate) bool {
	if h.less(a.attrs, b.attrs) {
		return true
	}
	if h.less(b.attrs, a.attrs) {
		return false
	}
	return a.res.ID < b.res.ID
}

func (h *candidateHeap) Len() int           { return len(h.items) }
func (h *candidateHeap) Less(i, j int) bool { return h.before(h.items[j], h.items[i]) }
func (h *candidateHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *candidateHeap) Push(x any)         { h.items = append(h.items, x.(candidate)) }
func (h *candidateHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

func (h *candidateHeap) offer(c candidate) {
	if h.limit <= 0 {
		return
	}
	if len(h.items) < h.limit {
		heap.Push(h, c)
		return
	}
	if h.before(c, h.items[0]) {
		h.items[0] = c
		heap.Fix(h, 0)
	}
}

func (h *candidateHeap) sorted() []candidate {
	out := append([]candidate(nil), h.items...)
	sort.Slice(out, func(i, j int) bool { return h.before(out[i], out[j]) })
	return out
}

// EachGroup calls fn for every group (without its members), in id order,
// streaming.
func (s *Service) EachGroup(ctx context.Context, fn func(*Resource) error) error {
	return s.scan(ctx, groupKind, fn)
}

// EachUser calls fn for every user (the reconciler's search for direct
// grants, which belong to no group).
func (s *Service) EachUser(ctx context.Context, fn func(*Resource) error) error {
	return s.scan(ctx, userKind, fn)
}

// addRelations puts a resource's groups (users) or members (groups) into
// attrs, as the SCIM representation has them, for filters that name them.
func (s *Service) addRelations(ctx context.Context, k kind, r *Resource, attrs map[string]any) error {
	var list []any
	if k == userKind {
		full, err := s.Get(ctx, k.name, r.ID, GetOptions{WithRelations: true})
		if scim.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, gid := range full.Groups {
			list = append(list, map[string]any{"value": gid, "type": "direct"})
		}
		attrs["groups"] = list
		return nil
	}
	err := s.eachMember(ctx, r.ID, func(m scim.Member) error {
		item := map[string]any{"value": m.Value, "type": "User"}
		if m.Display != "" {
			item["display"] = m.Display
		}
		list = append(list, item)
		return nil
	})
	attrs["members"] = list
	return err
}

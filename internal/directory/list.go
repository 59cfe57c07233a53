package directory

import (
	"context"
	"net/http"
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
}

// ListResult is one page and the exact number of matching resources.
type ListResult struct {
	Total     int
	Resources []*Resource
}

// scanPage is how many rows one store read returns while scanning.
const scanPage = 1000

// List returns the resources of typ that match, in a stable order (by id),
// holding at most one page of resources in memory.
func (s *Service) List(ctx context.Context, typ string, opts ListOptions) (*ListResult, error) {
	k, _ := s.kindOf(typ)
	start := max(opts.StartIndex, 1)
	out := &ListResult{}
	keep := func(r *Resource) error {
		if opts.Match != nil {
			attrs, err := r.Attrs()
			if err != nil {
				return err
			}
			attrs["meta"] = map[string]any{
				"resourceType": k.name,
				"created":      r.Created.Format(time.RFC3339Nano),
				"lastModified": r.Modified.Format(time.RFC3339Nano),
			}
			if !opts.Match(attrs) {
				return nil
			}
		}
		out.Total++
		if out.Total >= start && len(out.Resources) < opts.Count {
			out.Resources = append(out.Resources, r)
		}
		return nil
	}
	if opts.Lookup != nil {
		ids, indexed, err := s.lookupIDs(ctx, k, *opts.Lookup)
		if err != nil {
			return nil, err
		}
		if indexed {
			for _, id := range ids {
				r, err := s.Get(ctx, k.name, id, GetOptions{WithRelations: opts.WithRelations})
				if isNotFound(err) {
					continue // the index row outlived its resource by a moment
				}
				if err != nil {
					return nil, err
				}
				if err := keep(r); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	}
	if err := s.scan(ctx, k, keep); err != nil {
		return nil, err
	}
	if opts.WithRelations {
		for i, r := range out.Resources {
			full, err := s.Get(ctx, k.name, r.ID, GetOptions{WithRelations: true})
			if isNotFound(err) {
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

func isNotFound(err error) bool {
	se, ok := scim.AsError(err)
	return ok && se.Status == http.StatusNotFound
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
		if validID(l.Value) {
			ids = []string{l.Value}
		}
	case strings.EqualFold(l.Attr, k.uniqueAttr):
		e, err := s.st.Get(ctx, Table, Partition, k.nameKey(l.Value))
		if store.IsNotFound(err) {
			return nil, true, nil
		}
		if err != nil {
			return nil, true, err
		}
		ids = []string{string(e.Data)}
	case strings.EqualFold(l.Attr, "externalId"):
		prefix := k.extPrefixFor(l.Value)
		rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: prefix, KeysOnly: true})
		if err != nil {
			return nil, true, err
		}
		for _, r := range rows {
			ids = append(ids, strings.TrimPrefix(r.RowKey, prefix))
		}
	default:
		return nil, false, nil
	}
	return ids, true, nil
}

package handlers

import (
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// indexedAttrs are the attributes the directory answers from index rows.
func indexedAttrs(rt *scim.ResourceType) []string {
	if rt.ID == "Group" {
		return []string{"displayName", "externalId", "id"}
	}
	return []string{"userName", "externalId", "id"}
}

// compileFilter turns a SCIM filter into an index lookup (when one of its
// conjuncts is an equality on an indexed attribute) and a matcher that the
// whole filter, other conjuncts included, is checked with.
func compileFilter(rt *scim.ResourceType, f string) (*directory.Lookup, func(map[string]any) bool, error) {
	e, err := filter.Compile(f, rt)
	if err != nil {
		return nil, nil, err
	}
	var lookup *directory.Lookup
	if attr, value, ok := e.LookupFor(indexedAttrs(rt)...); ok {
		lookup = &directory.Lookup{Attr: attr, Value: value}
		if e.Op == filter.OpEq && e.Attr.Sub == "" && (e.Attr.URN == "" || strings.EqualFold(e.Attr.URN, rt.Schema.ID)) {
			// The filter is exactly the lookup, and the index compares as the
			// attribute does (case-insensitive userName and displayName,
			// exact externalId and id): every hit matches, nothing to decode.
			return lookup, nil, nil
		}
	}
	return lookup, func(attrs map[string]any) bool { return e.Match(attrs, rt) }, nil
}

package handlers

import (
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
)

// compileFilter turns a SCIM filter into an index lookup and a matcher.
func compileFilter(rt *scim.ResourceType, filter string) (*directory.Lookup, func(map[string]any) bool, error) {
	attr, rest, ok := strings.Cut(strings.TrimSpace(filter), " ")
	op, value, ok2 := strings.Cut(strings.TrimSpace(rest), " ")
	if !ok || !ok2 || !strings.EqualFold(op, "eq") {
		return nil, nil, scim.BadRequest(scim.ErrInvalidFilter, "unsupported filter %q", filter)
	}
	value = strings.Trim(strings.TrimSpace(value), `"`)
	return &directory.Lookup{Attr: attr, Value: value}, nil, nil
}

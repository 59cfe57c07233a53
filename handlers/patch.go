package handlers

import (
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/patch"
)

// patcher parses a PatchOp body once and returns the function the directory
// applies to the stored resource (possibly several times, when it retries
// after a concurrent write). Group membership comes back as deltas, never as
// a rewritten member list.
func (s *Server) patcher(rt *scim.ResourceType, id string, raw []byte) (directory.Patcher, error) {
	ops, err := patch.Parse(raw)
	if err != nil {
		return nil, err
	}
	opts := patch.Options{
		ID: id,
		// A replace whose value filter matches nothing adds the value, as
		// Entra ID expects when it replaces an email the user never had.
		UpsertOnNoMatch: true,
	}
	if rt.ID == "Group" {
		opts.External = []string{"members"}
	}
	return func(attrs map[string]any) (*directory.PatchResult, error) {
		res, err := patch.Apply(attrs, ops, rt, opts)
		if err != nil {
			return nil, err
		}
		pr := &directory.PatchResult{Attrs: res.Resource, Changed: res.Changed, Ignored: res.Ignored}
		if d := res.External["members"]; d != nil {
			pr.RemoveAll = d.RemoveAll
			pr.RemoveMembers = d.Removed
			pr.AddMembers = d.Added
		}
		return pr, nil
	}, nil
}

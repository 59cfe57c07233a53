package provision

import (
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim/patch"
)

// patcher returns the function the directory applies to the stored resource,
// possibly several times (when it retries after a concurrent write), from
// operations parsed once. Group membership comes back as deltas, never as a
// rewritten member list.
func patcher(dir *directory.Service, kind directory.Kind, id string, ops []patch.Operation) directory.Patcher {
	opts := patch.Options{
		ID: id,
		// A replace whose value filter matches nothing adds the value, as
		// Entra ID expects when it replaces an email the user never had.
		UpsertOnNoMatch: true,
	}
	rt := dir.UserType()
	if kind == directory.Group {
		rt = dir.GroupType()
		opts.External = []string{"members"}
	}
	return func(attrs map[string]any) (*directory.PatchResult, error) {
		res, err := patch.Apply(attrs, ops, rt, opts)
		if err != nil {
			return nil, err
		}
		pr := &directory.PatchResult{Attrs: res.Resource, Ignored: res.Ignored}
		if d := res.External["members"]; d != nil {
			pr.RemoveAll = d.RemoveAll
			pr.RemoveMembers = d.Removed
			pr.AddMembers = d.Added
		}
		return pr, nil
	}
}

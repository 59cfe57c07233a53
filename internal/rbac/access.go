package rbac

import (
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
)

// AccessRefs is the one decision of which principals a directory write may
// give or take access from, and so what it puts in the queue: nothing when
// the write cannot change anyone's access. The write path queues what it
// returns in the write's own commit where the engine allows it.
//
//   - A user: when it is deleted, or its active flag, userName or
//     externalId changed (the principal it resolves to, or whether it gets
//     access at all), or its direct grants (entitlements, roles) changed. A
//     new user belongs to no group yet, but may arrive with direct grants.
//   - A group: when it is created or deleted, or its displayName or
//     externalId changed (mappings bind groups by either); every user whose
//     membership changed is queued as well.
func AccessRefs(ch *directory.Change) []Ref {
	var refs []Ref
	switch ch.Type {
	case directory.User:
		if ch.Action == directory.ActionDelete || changedAny(ch.Changed, GrantAttributes...) ||
			ch.Action != directory.ActionCreate && changedAny(ch.Changed, "active", "userName", "externalId") {
			refs = append(refs, UserRef(ch.ID))
		}
	case directory.Group:
		if ch.Action == directory.ActionCreate || ch.Action == directory.ActionDelete || changedAny(ch.Changed, "displayName", "externalId") {
			refs = append(refs, GroupRef(ch.ID))
		}
	}
	for _, uid := range ch.UsersAffected {
		if uid != ch.ID {
			refs = append(refs, UserRef(uid))
		}
	}
	return refs
}

func changedAny(changed []string, names ...string) bool {
	for _, c := range changed {
		for _, n := range names {
			if strings.EqualFold(c, n) {
				return true
			}
		}
	}
	return false
}

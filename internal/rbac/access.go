package rbac

import (
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
)

// The attributes the reconciler reads of users and groups (FromDirectory),
// and so the only ones whose change can change anyone's access; AccessRefs
// watches these same names. Users are read also for the extension attribute
// that holds their object id (Resolver.Attribute).
const (
	attrActive      = "active"
	attrUserName    = "userName"
	attrExternalID  = "externalId"
	attrDisplayName = "displayName"
)

var (
	// userAccessAttrs decide whether a user gets access and as which
	// principal (Resolver: externalId, else the lookup by userName).
	userAccessAttrs = []string{attrActive, attrUserName, attrExternalID}
	// groupAccessAttrs are what mappings bind groups by (Binding.MatchesGroup).
	groupAccessAttrs = []string{attrDisplayName, attrExternalID}
)

// AccessRefs is the one decision of which principals a directory write may
// give or take access from, and so what it puts in the queue: nothing when
// the write cannot change anyone's access. The write path (provision) queues
// what it returns in the write's own commit where the engine allows it; the
// reconciler reads the same attributes it watches.
//
//   - A user: when it is deleted, or its active flag, userName or
//     externalId changed, or the extension holding the object id
//     (Resolver.Attribute) changed: the principal it resolves to, or
//     whether it gets access at all; or its direct grants (entitlements,
//     roles) changed. A new user belongs to no group yet, but may arrive
//     with direct grants.
//   - A group: when it is created or deleted, or its displayName or
//     externalId changed (mappings bind groups by either); every user whose
//     membership changed is queued as well.
func (r *Reconciler) AccessRefs(ch *directory.Change) []Ref {
	return accessRefs(ch, r.opts.Resolver.Attribute)
}

// accessRefs is AccessRefs with principalAttr the full name of the extension
// attribute holding users' object ids ("" for none).
func accessRefs(ch *directory.Change, principalAttr string) []Ref {
	var refs []Ref
	switch ch.Type {
	case directory.User:
		watch := userAccessAttrs
		if ext := attrTopLevel(principalAttr); ext != "" {
			watch = append(watch[:len(watch):len(watch)], ext)
		}
		if ch.Action == directory.ActionDelete || changedAny(ch.Changed, GrantAttributes...) ||
			ch.Action != directory.ActionCreate && changedAny(ch.Changed, watch...) {
			refs = append(refs, UserRef(ch.ID))
		}
	case directory.Group:
		if ch.Action == directory.ActionCreate || ch.Action == directory.ActionDelete || changedAny(ch.Changed, groupAccessAttrs...) {
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

// attrTopLevel is the top-level attribute (what directory.Change.Changed
// names) that holds the attribute full: the extension's schema URN for
// "urn:...:User:objectId" (or "urn:...:User:manager.value"), full itself for
// a name without one.
func attrTopLevel(full string) string {
	if !strings.HasPrefix(strings.ToLower(full), "urn:") {
		return full
	}
	if i := strings.LastIndex(full, ":"); i > 0 {
		return full[:i]
	}
	return full
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

package app

import (
	"context"
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store"
)

// accessQueue is the handlers' AccessQueue on the reconciler's queue.
type accessQueue struct{ rec *rbac.Reconciler }

func (q accessQueue) Enqueue(ctx context.Context, ch *directory.Change) error {
	return q.rec.Enqueue(ctx, accessRefs(ch)...)
}

func (q accessQueue) Writes(ch *directory.Change) ([]store.Write, error) {
	return q.rec.PendingWrites(accessRefs(ch)...)
}

func (q accessQueue) Queued() { q.rec.Notify() }

// accessRefs names the principals whose access a SCIM write may change.
func accessRefs(ch *directory.Change) []rbac.Ref {
	var refs []rbac.Ref
	if ch.Type == "User" {
		refs = append(refs, rbac.UserRef(ch.ID))
	} else if ch.Action == "delete" || changedAny(ch.Changed, "displayName", "externalId") || ch.Action == "create" {
		refs = append(refs, rbac.GroupRef(ch.ID))
	}
	for _, uid := range ch.UsersAffected {
		if uid != ch.ID {
			refs = append(refs, rbac.UserRef(uid))
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

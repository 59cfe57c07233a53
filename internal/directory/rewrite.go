package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// This file holds PUT and PATCH: an optimistic read-modify-write that
// re-reads and re-applies the change when a concurrent writer won.

func checkIfMatch(res *Resource, ifMatch string) error {
	if ifMatch == "" || ifMatch == "*" {
		return nil
	}
	for _, tag := range strings.Split(ifMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == res.Version() || "W/"+tag == res.Version() {
			return nil
		}
	}
	return scim.Errorf(scim.CodePrecondition, "", "the resource's version is %s, not %s", res.Version(), ifMatch)
}

// Replace overwrites a resource with a client body (PUT). ifMatch, when not
// empty, must name the current version.
func (s *Service) Replace(ctx context.Context, typ Kind, id string, body map[string]any, ifMatch string, follow FollowUp) (*Resource, *Change, error) {
	k, rt, err := s.kindOf(typ)
	if err != nil {
		return nil, nil, err
	}
	n, err := scim.Normalize(body, rt)
	if err != nil {
		return nil, nil, err
	}
	if bid, ok := body["id"].(string); ok && bid != "" && bid != id {
		return nil, nil, scim.BadRequest(scim.ErrMutability, "id %q in the body does not match the resource id %q", bid, id)
	}
	return s.rewrite(ctx, k, rt, id, ifMatch, ActionReplace, follow, func(*Resource, map[string]any) (*rewrite, error) {
		rw := &rewrite{attrs: n.Attrs, unknown: n.Unknown, secrets: n.Secrets, replace: true}
		if n.MembersGiven {
			rw.replaceMembers = n.Members
			rw.membersSet = true
		}
		return rw, nil
	})
}

// PatchResult is what a PATCH request does to a resource: its new
// attributes and, for groups, the membership changes as deltas. RemoveAll
// with AddMembers replaces the whole member list.
type PatchResult struct {
	Attrs         map[string]any
	AddMembers    []scim.Member
	RemoveMembers []string
	RemoveAll     bool
	// Ignored lists paths that named no attribute (logged, not rejected).
	Ignored []string
}

// Patcher applies a PATCH request to a copy of a resource's attributes
// (which include id and schemas).
type Patcher func(attrs map[string]any) (*PatchResult, error)

// Patch applies a PATCH request to a resource. follow may add writes to the
// commit (see FollowUp).
func (s *Service) Patch(ctx context.Context, typ Kind, id string, apply Patcher, ifMatch string, follow FollowUp) (*Resource, *Change, error) {
	k, rt, err := s.kindOf(typ)
	if err != nil {
		return nil, nil, err
	}
	return s.rewrite(ctx, k, rt, id, ifMatch, ActionPatch, follow, func(cur *Resource, attrs map[string]any) (*rewrite, error) {
		pr, err := apply(attrs)
		if err != nil {
			return nil, err
		}
		n, err := scim.Normalize(pr.Attrs, rt)
		if err != nil {
			return nil, err
		}
		rw := &rewrite{attrs: n.Attrs, unknown: append(n.Unknown, pr.Ignored...)}
		switch {
		case pr.RemoveAll:
			rw.replaceMembers, rw.membersSet = pr.AddMembers, true
		default:
			rw.addMembers, rw.removeMembers = pr.AddMembers, pr.RemoveMembers
		}
		if k == userKind && (len(rw.addMembers)+len(rw.removeMembers) > 0 || rw.membersSet) {
			return nil, scim.BadRequest(scim.ErrMutability, "a user's groups are read-only: change the group's members instead")
		}
		return rw, nil
	})
}

// rewrite is the outcome of a PUT or PATCH before it is written.
type rewrite struct {
	attrs          map[string]any
	secrets        []string
	replace        bool // a PUT: the trail lists the attributes stored
	unknown        []string
	addMembers     []scim.Member
	removeMembers  []string
	replaceMembers []scim.Member
	membersSet     bool
}

// maxRewriteAttempts bounds the optimistic retries of a PUT or PATCH that
// keeps meeting concurrent writers.
const maxRewriteAttempts = 64

// backoff waits before optimistic retry attempt n+1: a random delay that
// grows with n (up to ~25 ms), so that writers racing for one row spread out
// instead of colliding again in lockstep.
func backoff(ctx context.Context, n int) error {
	limit := time.Duration(1<<min(n, 5)) * 800 * time.Microsecond
	t := time.NewTimer(time.Duration(rand.Int64N(int64(limit))))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Service) rewrite(ctx context.Context, k kind, rt *scim.ResourceType, id, ifMatch string, action Action, follow FollowUp,
	fn func(cur *Resource, attrs map[string]any) (*rewrite, error)) (*Resource, *Change, error) {
	what := fmt.Sprintf("%s %q", strings.ToLower(string(k.name)), id)
	if !ValidID(id) {
		return nil, nil, scim.NotFound("%s not found", what)
	}
	for attempt := 0; attempt < maxRewriteAttempts; attempt++ {
		e, groups, groupsLoaded, err := s.readForRewrite(ctx, k, id)
		if err != nil {
			return nil, nil, storeErr(err, what)
		}
		cur, err := decodeRow(k.name, e)
		if err != nil {
			return nil, nil, err
		}
		cur.ID = id
		cur.Groups, cur.GroupsLoaded = groups, groupsLoaded
		if err := checkIfMatch(cur, ifMatch); err != nil {
			return nil, nil, err
		}
		oldAttrs, err := cur.Attrs()
		if err != nil {
			return nil, nil, err
		}
		rw, err := fn(cur, scim.CopyJSON(oldAttrs).(map[string]any))
		if err != nil {
			return nil, nil, err
		}
		stripServerAttrs(oldAttrs)
		if err := checkImmutable(rt, oldAttrs, rw.attrs); err != nil {
			return nil, nil, err
		}
		notes, err := s.checkUser(k, oldAttrs, rw.attrs)
		if err != nil {
			return nil, nil, err
		}
		data, err := buildBody(rt, id, rw.attrs)
		if err != nil {
			return nil, nil, err
		}
		membership := k == groupKind && (rw.membersSet || len(rw.addMembers)+len(rw.removeMembers) > 0)
		adds, removes := rw.addMembers, rw.removeMembers
		if membership && rw.membersSet {
			if adds, removes, err = s.diffMembers(ctx, id, rw.replaceMembers); err != nil {
				return nil, nil, err
			}
			// A member list equal to the stored one changes nothing, and
			// is not reported as a change of anyone's access.
			membership = len(adds)+len(removes) > 0
			rw.membersSet = membership
		}
		unchanged := bytes.Equal(data, cur.Body)
		if unchanged && !membership {
			// Nothing to write (an IdP re-sending what is stored): no
			// storage transaction, no version change.
			return cur, &Change{Type: k.name, ID: id, Action: action, Resource: cur, Unknown: rw.unknown, Display: displayName(k, rw.attrs)}, nil
		}
		modified := s.now().UTC()
		resOp := store.Op{Kind: store.Replace, Entity: entity(k.resKey(id), encodeRow(cur.Created, modified, data)), IfMatch: e.ETag}
		if unchanged {
			// Only members change: touch the group row instead of rewriting
			// it, so concurrent membership changes do not collide on it. The
			// version changes; lastModified, stored in the row, does not.
			resOp = store.Op{Kind: store.Touch, Entity: entity(k.resKey(id), nil)}
			modified = cur.Modified
			if ifMatch != "" && ifMatch != "*" {
				resOp.IfMatch = e.ETag
			}
		}
		oldKey, err := s.storedNameKey(ctx, k, id, oldAttrs)
		if err != nil {
			return nil, nil, storeErr(err, what)
		}
		if newName, _ := rw.attrs[k.uniqueAttr].(string); k.nameKey(newName) != oldKey {
			if err := s.checkLegacyName(ctx, k, id, rw.attrs); err != nil {
				return nil, nil, err
			}
		}
		ops := append([]store.Op{resOp}, indexOps(k, id, oldAttrs, rw.attrs, oldKey)...)
		ch := &Change{Type: k.name, ID: id, Action: action, Changed: diffNames(oldAttrs, rw.attrs), Unknown: rw.unknown, Display: displayName(k, rw.attrs), Notes: notes}
		if rw.replace {
			ch.Attrs, ch.Secrets = rw.attrs, rw.secrets
		}
		if membership {
			ch.Changed = append(ch.Changed, "members")
		}
		res := &Resource{Type: k.name, ID: id, Body: data, Created: cur.Created, Modified: modified,
			Groups: groups, GroupsLoaded: groupsLoaded}

		var etag string
		if membership {
			ch.UsersAffected = append(memberIDs(adds), removes...)
			etag, err = s.writeMembership(ctx, id, ops, adds, removes, func() store.Follow { return s.followFor(follow, ch) })
		} else {
			var etags []string
			etags, err = s.batch(ctx, ops, s.followFor(follow, ch))
			if err == nil {
				etag = etags[0]
			}
		}
		if err != nil {
			var be *store.BatchError
			if errors.As(err, &be) && be.Index == 0 && (store.IsPrecondition(err) || store.IsNotFound(err)) {
				if err := backoff(ctx, attempt); err != nil {
					return nil, nil, err
				}
				continue // a concurrent writer changed the row: re-read and re-apply
			}
			return nil, nil, s.uniquenessErr(storeErr(err, what), k, rw.attrs)
		}
		res.ETag = etag
		ch.Resource = res
		return res, ch, nil
	}
	return nil, nil, scim.Errorf(scim.CodeConflict, "", "%s is being changed by too many requests at once; retry", what)
}

// readForRewrite reads the row a PUT or PATCH starts from. A user's row is
// read together with its reverse membership rows in one range query, which
// costs the same single transaction as a point read and spares the answer a
// second read to list the user's groups.
func (s *Service) readForRewrite(ctx context.Context, k kind, id string) (e store.Entity, groups []string, loaded bool, err error) {
	if k != userKind {
		e, err = s.st.Get(ctx, Table, Partition, k.resKey(id))
		return e, nil, false, err
	}
	rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: k.resKey(id)})
	if err != nil {
		return store.Entity{}, nil, false, err
	}
	if len(rows) == 0 || rows[0].RowKey != k.resKey(id) {
		return store.Entity{}, nil, false, fmt.Errorf("directory: %s: %w", k.resKey(id), store.ErrNotFound)
	}
	for _, r := range rows[1:] {
		groups = append(groups, strings.TrimPrefix(r.RowKey, k.resKey(id)+sep))
	}
	return rows[0], groups, true, nil
}

// checkImmutable rejects a change of an immutable attribute that has a value.
func checkImmutable(rt *scim.ResourceType, old, new map[string]any) error {
	for _, a := range rt.Schema.Attributes {
		if a.Mutability != scim.Immutable {
			continue
		}
		if ov, ok := old[a.Name]; ok && fmt.Sprint(ov) != fmt.Sprint(new[a.Name]) {
			return scim.BadRequest(scim.ErrMutability, "attribute %q is immutable", a.Name)
		}
	}
	return nil
}

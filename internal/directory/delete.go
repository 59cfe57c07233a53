package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Delete removes a resource and every row that refers to it. follow may add
// writes to the commit that deletes the resource row (see FollowUp).
func (s *Service) Delete(ctx context.Context, typ Kind, id, ifMatch string, follow FollowUp) (*Change, error) {
	k, _, err := s.kindOf(typ)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s %q", strings.ToLower(string(k.name)), id)
	if !ValidID(id) {
		return nil, scim.NotFound("%s not found", what)
	}
	for attempt := 0; attempt < maxRewriteAttempts; attempt++ {
		e, err := s.st.Get(ctx, Table, Partition, k.resKey(id))
		if err != nil {
			return nil, storeErr(err, what)
		}
		cur, err := decodeRow(k.name, e)
		if err != nil {
			return nil, err
		}
		cur.ID = id
		if err := checkIfMatch(cur, ifMatch); err != nil {
			return nil, err
		}
		attrs, err := cur.Attrs()
		if err != nil {
			return nil, err
		}
		// Relations go first, the resource row last: a failure half-way
		// leaves a resource with fewer relations, never relations without
		// a resource.
		affected, err := s.dropRelations(ctx, k, id)
		if err != nil {
			return nil, err
		}
		ops := []store.Op{{Kind: store.Delete, Entity: entity(k.resKey(id), nil), IfMatch: e.ETag}}
		oldKey, err := s.storedNameKey(ctx, k, id, attrs)
		if err != nil {
			return nil, storeErr(err, what)
		}
		ops = append(ops, indexOps(k, id, attrs, nil, oldKey)...)
		ch := &Change{Type: k.name, ID: id, Action: ActionDelete, Resource: cur, UsersAffected: affected, Display: displayName(k, attrs)}
		if _, err := s.batch(ctx, ops, s.followFor(follow, ch)); err != nil {
			var be *store.BatchError
			if errors.As(err, &be) && be.Index == 0 && store.IsPrecondition(err) {
				if err := backoff(ctx, attempt); err != nil {
					return nil, err
				}
				continue
			}
			return nil, storeErr(err, what)
		}
		return ch, nil
	}
	return nil, scim.Errorf(scim.CodeConflict, "", "%s is being changed by too many requests at once; retry", what)
}

// dropRelations removes the membership rows of a user or a group.
func (s *Service) dropRelations(ctx context.Context, k kind, id string) ([]string, error) {
	if k == groupKind {
		_, removes, err := s.diffMembers(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		for start := 0; start < len(removes); start += membershipChunk(2) {
			end := min(start+membershipChunk(2), len(removes))
			var ops []store.Op
			for _, uid := range removes[start:end] {
				ops = append(ops, deleteOp(memberKey(id, uid)), deleteOp(userGroupKey(uid, id)))
			}
			if err := s.batchTolerant(ctx, ops); err != nil {
				return nil, err
			}
		}
		return removes, nil
	}
	rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: k.resKey(id) + sep, KeysOnly: true})
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(rows); start += membershipChunk(2) {
		end := min(start+membershipChunk(2), len(rows))
		var ops []store.Op
		for _, r := range rows[start:end] {
			gid := strings.TrimPrefix(r.RowKey, k.resKey(id)+sep)
			ops = append(ops, deleteOp(memberKey(gid, id)), deleteOp(r.RowKey))
		}
		if err := s.batchTolerant(ctx, ops); err != nil {
			return nil, err
		}
	}
	return []string{id}, nil
}

func deleteOp(rk string) store.Op { return store.Op{Kind: store.Delete, Entity: entity(rk, nil)} }

// batchTolerant applies delete ops, dropping the ones whose row is already
// gone (a concurrent request removed it) and retrying the rest.
func (s *Service) batchTolerant(ctx context.Context, ops []store.Op) error {
	for len(ops) > 0 {
		_, err := s.st.Batch(ctx, Table, ops)
		var be *store.BatchError
		if err == nil {
			return nil
		}
		if !errors.As(err, &be) || !store.IsNotFound(err) || be.Op.Kind != store.Delete {
			return err
		}
		ops = append(ops[:be.Index:be.Index], ops[be.Index+1:]...)
	}
	return nil
}

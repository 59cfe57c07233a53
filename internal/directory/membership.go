package directory

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Membership changes are written as deltas: each added member is three
// operations (the membership row, the user's reverse row, and a Touch of the
// user row that fails the batch atomically when the user does not exist),
// each removed member two. A group of 50,000 members costs the same to
// change as a group of five.

const (
	opsPerAdd    = 3
	opsPerRemove = 2
)

func membershipChunk(opsPer int) int { return store.MaxBatchOps / opsPer }

func sortStrings(s []string) { sort.Strings(s) }

type memberChange struct {
	uid     string
	display string
	add     bool
}

func (c memberChange) ops(gid string) []store.Op {
	if c.add {
		return []store.Op{
			{Kind: store.Upsert, Entity: entity(memberKey(gid, c.uid), []byte(c.display))},
			{Kind: store.Upsert, Entity: entity(userGroupKey(c.uid, gid), nil)},
			{Kind: store.Touch, Entity: entity(userKind.resKey(c.uid), nil)},
		}
	}
	return []store.Op{deleteOp(memberKey(gid, c.uid)), deleteOp(userGroupKey(c.uid, gid))}
}

// unknownMember is the error for a member id that names no user.
func unknownMember(uid string) error {
	return scim.BadRequest(scim.ErrInvalidValue, "member %q is not a user of this service; no membership was changed", uid)
}

// writeMembership writes first (the group's own row changes; first[0] is the
// group row) together with the membership deltas, in as few batches as fit.
// It returns the group row's new ETag. The request is atomic when it fits in
// one batch; when it does not, every added member is checked before anything
// is written, so a bad id still changes nothing. follow gives the writes
// that commit with the change when it fits one batch (see FollowUp); it is
// not called otherwise.
func (s *Service) writeMembership(ctx context.Context, gid string, first []store.Op, adds []scim.Member, removes []string, follow func() store.Follow) (string, error) {
	changes := make([]memberChange, 0, len(adds)+len(removes))
	for _, m := range adds {
		if !ValidID(m.Value) {
			return "", unknownMember(m.Value)
		}
		changes = append(changes, memberChange{uid: m.Value, display: m.Display, add: true})
	}
	for _, uid := range removes {
		if !ValidID(uid) {
			continue // cannot be a member: nothing to remove
		}
		changes = append(changes, memberChange{uid: uid})
	}
	batches := packMembership(len(first), changes)
	if len(batches) > 1 && len(adds) > 0 {
		if err := s.checkUsersExist(ctx, adds); err != nil {
			return "", err
		}
	}
	var etag string
	var f store.Follow
	if len(batches) == 1 {
		f = follow()
	}
	for i, chunk := range batches {
		head := first
		if i > 0 {
			// Later batches assert the group still exists and mark it changed.
			head = []store.Op{{Kind: store.Touch, Entity: entity(groupKind.resKey(gid), nil)}}
		}
		etags, err := s.applyMembershipBatch(ctx, gid, head, chunk, i == 0, f)
		if err != nil {
			return "", err
		}
		etag = etags[0] // the group row's ETag: written by head, or bumped by its Touch
	}
	return etag, nil
}

// packMembership splits changes into batches, the first of which also holds
// firstOps operations. A member's operations never straddle two batches.
func packMembership(firstOps int, changes []memberChange) [][]memberChange {
	var out [][]memberChange
	room := store.MaxBatchOps - firstOps
	var cur []memberChange
	for _, c := range changes {
		n := opsPerRemove
		if c.add {
			n = opsPerAdd
		}
		if n > room {
			out = append(out, cur)
			cur = nil
			room = store.MaxBatchOps - 1 // the group Touch
		}
		cur = append(cur, c)
		room -= n
	}
	return append(out, cur)
}

// applyMembershipBatch writes head plus chunk's operations. Removals of rows
// that are already gone are dropped and the batch retried; an added member
// whose user does not exist fails the request (first batch) or is dropped
// (later batches, where the user was deleted after the check).
func (s *Service) applyMembershipBatch(ctx context.Context, gid string, head []store.Op, chunk []memberChange, first bool, follow store.Follow) ([]string, error) {
	for {
		ops := append([]store.Op(nil), head...)
		owner := make([]int, 0, len(chunk)*opsPerAdd) // op index -> chunk index
		for ci, c := range chunk {
			for _, op := range c.ops(gid) {
				ops = append(ops, op)
				owner = append(owner, ci)
			}
		}
		etags, err := s.batch(ctx, ops, follow)
		if err == nil {
			return etags, nil
		}
		var be *store.BatchError
		if !errors.As(err, &be) || be.Index < len(head) {
			return nil, err
		}
		ci := owner[be.Index-len(head)]
		c := chunk[ci]
		switch {
		case c.add && store.IsNotFound(err) && first:
			return nil, unknownMember(c.uid)
		case store.IsNotFound(err):
			chunk = append(chunk[:ci:ci], chunk[ci+1:]...)
		default:
			return nil, err
		}
	}
}

// checkUsersExist asserts that every added member's user exists, before a
// request that spans several batches writes anything. It sends batches of
// Touch operations, which change nothing but the rows' ETags and fail with
// ErrNotFound on a missing row: one transaction per 100 users instead of one
// read per user (a 100-member add costs 6 transactions, not 105). The write
// batches touch the same user rows again, so the extra ETag change costs a
// concurrent writer of those users nothing it would not pay anyway.
func (s *Service) checkUsersExist(ctx context.Context, adds []scim.Member) error {
	seen := make(map[string]struct{}, len(adds))
	ops := make([]store.Op, 0, store.MaxBatchOps)
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := s.st.Batch(ctx, Table, ops)
		var be *store.BatchError
		if errors.As(err, &be) && store.IsNotFound(err) {
			return unknownMember(strings.TrimPrefix(be.Op.Entity.RowKey, userKind.resPrefix))
		}
		ops = ops[:0]
		return err
	}
	for _, m := range adds {
		if _, dup := seen[m.Value]; dup {
			continue // a batch names each row once
		}
		seen[m.Value] = struct{}{}
		ops = append(ops, store.Op{Kind: store.Touch, Entity: entity(userKind.resKey(m.Value), nil)})
		if len(ops) == store.MaxBatchOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// diffMembers compares a group's stored members with want.
func (s *Service) diffMembers(ctx context.Context, gid string, want []scim.Member) (adds []scim.Member, removes []string, err error) {
	wanted := make(map[string]scim.Member, len(want))
	for _, m := range want {
		wanted[m.Value] = m
	}
	have := make(map[string]struct{})
	err = s.eachMember(ctx, gid, func(m scim.Member) error {
		have[m.Value] = struct{}{}
		if w, ok := wanted[m.Value]; !ok {
			removes = append(removes, m.Value)
		} else if w.Display != m.Display && w.Display != "" {
			adds = append(adds, w) // refresh the display name
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, m := range want {
		if _, ok := have[m.Value]; !ok {
			adds = append(adds, m)
		}
	}
	return adds, removes, nil
}

package directory_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

func newService(t *testing.T) (*directory.Service, *enginetest.Counting) {
	t.Helper()
	cs := enginetest.OpenCounting(t)
	return directory.New(cs, directory.Options{}), cs
}

func createUsers(t *testing.T, s *directory.Service, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		res, _, err := s.Create(context.Background(), "User", map[string]any{"userName": fmt.Sprintf("user%05d@contoso.com", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.ID
	}
	return ids
}

func members(ids []string) []scim.Member {
	out := make([]scim.Member, len(ids))
	for i, id := range ids {
		out[i] = scim.Member{Value: id}
	}
	return out
}

func addMembers(ms []scim.Member) directory.Patcher {
	return func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, AddMembers: ms}, nil
	}
}

func removeMembers(ids []string) directory.Patcher {
	return func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, RemoveMembers: ids}, nil
	}
}

func memberIDs(t *testing.T, s *directory.Service, gid string) []string {
	t.Helper()
	var out []string
	if err := s.EachMember(context.Background(), gid, func(m scim.Member) error {
		out = append(out, m.Value)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func sorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func createGroup(t *testing.T, s *directory.Service, name string) string {
	t.Helper()
	g, _, err := s.Create(context.Background(), "Group", map[string]any{"displayName": name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// TestLargeMembershipPatch adds 1,000 members in one PATCH and checks the
// batch count: membership is written as deltas, never by rewriting the group.
func TestLargeMembershipPatch(t *testing.T) {
	ctx := context.Background()
	s, cs := newService(t)
	users := createUsers(t, s, 1000)
	gid := createGroup(t, s, "big")
	cs.Reset()
	if _, _, err := s.Patch(ctx, "Group", gid, addMembers(members(users)), "", nil); err != nil {
		t.Fatal(err)
	}
	n := cs.Reset()
	batches, reads := n.Writes(), n.Reads()
	if got := memberIDs(t, s, gid); !equal(got, sorted(users)) {
		t.Fatalf("after adding 1000 members the group has %d", len(got))
	}
	// 3 ops per added member, 100 ops per batch, after batches of 100
	// Touches that check the users exist; the group row is read once.
	if want := (3*1000+99)/100 + 1000/100; batches > want+1 || reads != 1 {
		t.Errorf("adding 1000 members took %d batches and %d reads, want about %d and 1", batches, reads, want)
	}
	// Removing one member of a big group costs one read of the group and
	// one batch, like in a small group.
	cs.Reset()
	if _, _, err := s.Patch(ctx, "Group", gid, removeMembers(users[:1]), "", nil); err != nil {
		t.Fatal(err)
	}
	n = cs.Reset()
	batches, reads = n.Writes(), n.Reads()
	if batches != 1 || reads != 1 {
		t.Errorf("removing one member of 1000: %d batches, %d reads; want 1 and 1", batches, reads)
	}
	if got := memberIDs(t, s, gid); len(got) != 999 {
		t.Errorf("after removing one member: %d members, want 999", len(got))
	}
	u, err := s.Get(ctx, "User", users[0], directory.GetOptions{WithRelations: true})
	if err != nil || len(u.Groups) != 0 {
		t.Errorf("removed user still lists groups %v (%v)", u.Groups, err)
	}
	u, err = s.Get(ctx, "User", users[1], directory.GetOptions{WithRelations: true})
	if err != nil || len(u.Groups) != 1 || u.Groups[0] != gid {
		t.Errorf("member's groups = %v (%v), want [%s]", u.Groups, err, gid)
	}
}

// TestUnknownMemberChangesNothing: a PATCH naming a user that does not
// exist fails with 400 and leaves the group as it was, also when the PATCH
// spans several batches.
func TestUnknownMemberChangesNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	users := createUsers(t, s, 120)
	gid := createGroup(t, s, "g")
	for _, n := range []int{1, 119} { // one batch, and several
		ms := append(members(users[:n]), scim.Member{Value: "2819c223-7f76-453a-919d-413861904646"})
		_, _, err := s.Patch(ctx, "Group", gid, addMembers(ms), "", nil)
		se, ok := scim.AsError(err)
		if !ok || se.Code != scim.CodeInvalid || se.ScimType != scim.ErrInvalidValue {
			t.Fatalf("PATCH with an unknown member (%d valid): %v, want 400 invalidValue", n, err)
		}
		if got := memberIDs(t, s, gid); len(got) != 0 {
			t.Errorf("failed PATCH (%d valid) left %d members", n, len(got))
		}
	}
}

// TestConcurrentMembershipPatches: many clients adding distinct members to
// one group at once lose nothing, and concurrent updates of one user's
// attributes keep every change.
func TestConcurrentMembershipPatches(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	users := createUsers(t, s, 64)
	gid := createGroup(t, s, "shared")
	var wg sync.WaitGroup
	errs := make(chan error, 128)
	for i, uid := range users {
		wg.Add(2)
		go func(uid string) {
			defer wg.Done()
			_, _, err := s.Patch(ctx, "Group", gid, addMembers([]scim.Member{{Value: uid}}), "", nil)
			errs <- err
		}(uid)
		// Every client also edits the same user's attributes.
		go func(i int) {
			defer wg.Done()
			_, _, err := s.Patch(ctx, "User", users[0], func(attrs map[string]any) (*directory.PatchResult, error) {
				counts, _ := attrs["entitlements"].([]any)
				attrs["entitlements"] = append(counts, map[string]any{"value": fmt.Sprintf("e%d", i)})
				return &directory.PatchResult{Attrs: attrs}, nil
			}, "", nil)
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent PATCH: %v", err)
		}
	}
	if got := memberIDs(t, s, gid); !equal(got, sorted(users)) {
		t.Errorf("group has %d members after 64 concurrent adds", len(got))
	}
	u, err := s.Get(ctx, "User", users[0], directory.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	attrs, _ := u.Attrs()
	if ents, _ := attrs["entitlements"].([]any); len(ents) != len(users) {
		t.Errorf("user has %d entitlements after %d concurrent appends: updates were lost", len(ents), len(users))
	}
}

// TestConcurrentCreateSameUserName: parallel POSTs of one userName in
// different case give exactly one success.
func TestConcurrentCreateSameUserName(t *testing.T) {
	s, _ := newService(t)
	names := []string{"bob@contoso.com", "BOB@contoso.com", "Bob@Contoso.com", "bob@CONTOSO.COM"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, conflicts := 0, 0
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			_, _, err := s.Create(context.Background(), "User", map[string]any{"userName": name}, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				created++
			} else if se, ok := scim.AsError(err); ok && se.Code == scim.CodeConflict {
				conflicts++
			} else {
				t.Errorf("create: %v", err)
			}
		}(names[i%len(names)])
	}
	wg.Wait()
	if created != 1 || conflicts != 31 {
		t.Errorf("created %d, conflicts %d; want 1 and 31", created, conflicts)
	}
}

// TestDeleteGroupWithManyMembers removes every membership row.
func TestDeleteGroupWithManyMembers(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	users := createUsers(t, s, 250)
	g, _, err := s.Create(ctx, "Group", map[string]any{"displayName": "doomed", "members": toAny(users)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(t, s, g.ID); len(got) != 250 {
		t.Fatalf("created group has %d members", len(got))
	}
	if _, err := s.Delete(ctx, "Group", g.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	for _, uid := range users[:5] {
		u, err := s.Get(ctx, "User", uid, directory.GetOptions{WithRelations: true})
		if err != nil || len(u.Groups) != 0 {
			t.Errorf("user %s still in groups %v after the group was deleted (%v)", uid, u.Groups, err)
		}
	}
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// TestReplaceWithSameMembersWritesNothing: a member list equal to the stored
// one (Okta re-sends whole groups) writes nothing, keeps the version and
// changes nobody's access.
func TestReplaceWithSameMembersWritesNothing(t *testing.T) {
	ctx := context.Background()
	s, cs := newService(t)
	users := createUsers(t, s, 3)
	g, _, err := s.Create(ctx, "Group", map[string]any{"displayName": "same", "members": toAny(users)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs.Reset()
	res, ch, err := s.Patch(ctx, "Group", g.ID, func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, RemoveAll: true, AddMembers: members(users)}, nil
	}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if batches := cs.Reset().Writes(); batches != 0 {
		t.Errorf("replacing members by the same members wrote %d batches", batches)
	}
	if res.Version() != g.Version() || len(ch.Changed) != 0 || len(ch.UsersAffected) != 0 {
		t.Errorf("no-op replace: version %s -> %s, changed %v, users %v", g.Version(), res.Version(), ch.Changed, ch.UsersAffected)
	}
	if got := memberIDs(t, s, g.ID); !equal(got, sorted(users)) {
		t.Errorf("members after a no-op replace: %v", got)
	}
	// A rename that re-sends the same members changes the name only.
	_, ch, err = s.Patch(ctx, "Group", g.ID, func(attrs map[string]any) (*directory.PatchResult, error) {
		attrs["displayName"] = "renamed"
		return &directory.PatchResult{Attrs: attrs, RemoveAll: true, AddMembers: members(users)}, nil
	}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(ch.Changed, []string{"displayName"}) || len(ch.UsersAffected) != 0 {
		t.Errorf("rename with the same members: changed %v, users affected %v; want only displayName", ch.Changed, ch.UsersAffected)
	}
}

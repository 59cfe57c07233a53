package directory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// followLog is a FollowUp that writes one row per committed change to table
// "followups" and remembers which of its Follows ran.
type followLog struct{ ran map[string]bool }

func (f *followLog) up(name string) directory.FollowUp {
	return func(ch *directory.Change) store.Follow {
		return func(store.Reader) ([]store.Write, error) {
			f.ran[name] = true
			return []store.Write{{Table: "followups", Ops: []store.Op{{Kind: store.Upsert,
				Entity: store.Entity{PartitionKey: "p", RowKey: name, Data: []byte(string(ch.Action) + " " + ch.ID)}}}}}, nil
		}
	}
}

// TestFollowUpCommitsWithSingleBatchWrites checks which writes carry their
// follow-up writes in their own commit: on an engine that can, every write
// made in one batch (create, PATCH, a small membership change, delete), not
// a membership change spread over several batches; on one that cannot
// (Table Storage), none, and the caller writes them itself.
func TestFollowUpCommitsWithSingleBatchWrites(t *testing.T) {
	st := enginetest.Open(t)
	_, can := st.(store.Follower)
	s := directory.New(st, directory.Options{})
	ctx := context.Background()
	f := &followLog{ran: map[string]bool{}}

	u, _, err := s.Create(ctx, "User", map[string]any{"userName": "ivan@contoso.com"}, f.up("create user"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Patch(ctx, "User", u.ID, func(attrs map[string]any) (*directory.PatchResult, error) {
		attrs["active"] = false
		return &directory.PatchResult{Attrs: attrs}, nil
	}, "", f.up("patch user")); err != nil {
		t.Fatal(err)
	}
	g, _, err := s.Create(ctx, "Group", map[string]any{"displayName": "adf-readers", "members": []any{map[string]any{"value": u.ID}}}, f.up("create group"))
	if err != nil {
		t.Fatal(err)
	}
	many := make([]scim.Member, 0, 60)
	for i := range 60 {
		r, _, err := s.Create(ctx, "User", map[string]any{"userName": fmt.Sprintf("bulk%02d@contoso.com", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		many = append(many, scim.Member{Value: r.ID})
	}
	if _, _, err := s.Patch(ctx, "Group", g.ID, addMembers(many), "", f.up("add 60 members")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "User", u.ID, "", f.up("delete user")); err != nil {
		t.Fatal(err)
	}
	// A write that fails commits nothing, its follow-up included.
	if _, _, err := s.Create(ctx, "User", map[string]any{"userName": "BULK00@contoso.com"}, f.up("duplicate")); err == nil {
		t.Fatal("a duplicate userName was created")
	}

	for _, name := range []string{"create user", "patch user", "create group", "delete user"} {
		e, err := st.Get(ctx, "followups", "p", name)
		switch {
		case can && err != nil:
			t.Errorf("%s: its follow-up is not stored: %v", name, err)
		case can && !f.ran[name]:
			t.Errorf("%s: its Follow did not run", name)
		case !can && (err == nil || f.ran[name]):
			t.Errorf("%s: a follow-up ran on an engine that cannot commit it with the change (%q)", name, e.Data)
		}
	}
	for _, name := range []string{"add 60 members", "duplicate"} {
		if _, err := st.Get(ctx, "followups", "p", name); !store.IsNotFound(err) {
			t.Errorf("%s: a follow-up was stored (err %v); want none", name, err)
		}
	}
}

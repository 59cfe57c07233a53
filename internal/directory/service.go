package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Options configure a Service.
type Options struct {
	// UserExtensions and GroupExtensions are extension schemas declared in
	// configuration, on top of the enterprise User extension.
	UserExtensions  []*scim.Schema
	GroupExtensions []*scim.Schema
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// NewID returns a fresh resource id; random UUIDs when nil.
	NewID func() string
	// CheckUser, when set, validates a user's attributes as a create,
	// replace or patch is about to store them (old is nil for a create), and
	// may canonicalise new in place: the direct grants of rbac.CheckGrants.
	// Its error is answered 400 invalidValue and nothing is written; the
	// notes it returns go into the Change, for the audit trail.
	CheckUser func(old, new map[string]any) ([]Note, error)
}

// Note is a change a write made that the client's own words do not make
// legible, for the audit trail: {"grant", "entitlements", "adf-prod: Data
// Factory Contributor [id]"}.
type Note struct {
	Op    string
	Path  string
	Value string
}

// Service reads and writes users and groups. It is safe for concurrent use,
// also by several processes sharing one store: every write is an atomic,
// optimistic batch, never an in-process lock.
type Service struct {
	st       store.Store
	follower store.Follower // st, when it can commit follow-up writes
	users    *scim.ResourceType
	groups   *scim.ResourceType
	now      func() time.Time
	newID    func() string
	check    func(old, new map[string]any) ([]Note, error)
}

// New returns a Service over st. It panics when st reports follow-up
// commits it does not implement (store.ErrCapability): a wrapper that hides
// BatchFollow is a wiring mistake, to be found when the program or test
// starts, never silently served by the slower path.
func New(st store.Store, opts Options) *Service {
	follower, err := store.FollowerOf(st)
	if err != nil {
		panic(fmt.Sprintf("directory: %v", err))
	}
	s := &Service{
		st:       st,
		follower: follower,
		users:    scim.NewUserResourceType(opts.UserExtensions...),
		groups:   scim.NewGroupResourceType(opts.GroupExtensions...),
		now:      opts.Now,
		newID:    opts.NewID,
		check:    opts.CheckUser,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = newTimeOrderedID
	}
	return s
}

// UserType and GroupType return the resource types the service serves.
func (s *Service) UserType() *scim.ResourceType  { return s.users }
func (s *Service) GroupType() *scim.ResourceType { return s.groups }

// Change describes a completed write, for the audit trail and the RBAC
// reconciler. It states what changed; whether that changes anyone's access
// is rbac's decision (Reconciler.AccessRefs).
type Change struct {
	Type     Kind
	ID       string
	Action   Action
	Resource *Resource
	// Changed lists the top-level attributes whose stored value the write
	// changed (all of them for a create), and "members" when a group's
	// membership changed.
	Changed []string
	// UsersAffected are user ids whose group memberships changed (for a
	// deleted user, the user itself).
	UsersAffected []string
	Unknown       []string
	// Display names the resource (userName or displayName) for the trail.
	Display string
	// Attrs are the attributes a create or replace stored, and Secrets the
	// write-only paths it was sent and discarded (for the trail).
	Attrs   map[string]any
	Secrets []string
	// Notes are what Options.CheckUser found the write changed (direct
	// grants given and taken away).
	Notes []Note
}

// checkUser runs Options.CheckUser on a user's attributes about to be
// stored.
func (s *Service) checkUser(k kind, old, new map[string]any) ([]Note, error) {
	if k != userKind || s.check == nil {
		return nil, nil
	}
	notes, err := s.check(old, new)
	if err != nil {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "%s", err.Error())
	}
	return notes, nil
}

// A FollowUp returns, for a change about to be committed, the writes that
// must become durable with it: its audit record, its entry in the access
// queue. The directory asks for them only when the engine can commit them in
// the same transaction (store.Follower) and the change is written in one
// batch; the caller knows from its own Follow whether they went in, and
// writes them itself otherwise. A nil FollowUp, or one returning nil, asks
// for nothing.
type FollowUp func(ch *Change) store.Follow

// followFor is f's Follow for ch, or nil when the engine cannot take it.
func (s *Service) followFor(f FollowUp, ch *Change) store.Follow {
	if f == nil || s.follower == nil {
		return nil
	}
	return f(ch)
}

// batch writes ops in one batch, with follow's writes in the same commit
// when follow is not nil (followFor checked that the engine can).
func (s *Service) batch(ctx context.Context, ops []store.Op, follow store.Follow) ([]string, error) {
	if follow != nil {
		return s.follower.BatchFollow(ctx, Table, ops, follow)
	}
	return s.st.Batch(ctx, Table, ops)
}

// newTimeOrderedID makes resource ids that sort by creation time (UUIDv7):
// new rows land beside each other in the store, so a create touches fewer
// pages, and lists come back in creation order.
func newTimeOrderedID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// storeErr maps store errors that are the client's business to SCIM errors
// and leaves the others (unavailable, internal) wrapped for the HTTP layer.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case store.IsNotFound(err):
		return scim.NotFound("%s not found", what)
	case store.IsPrecondition(err):
		return scim.Errorf(scim.CodePrecondition, "", "%s was modified by another request", what)
	}
	return err
}

// Create stores a new resource of typ from a client body. follow may add
// writes to the commit (see FollowUp).
func (s *Service) Create(ctx context.Context, typ Kind, body map[string]any, follow FollowUp) (*Resource, *Change, error) {
	k, rt, err := s.kindOf(typ)
	if err != nil {
		return nil, nil, err
	}
	n, err := scim.Normalize(body, rt)
	if err != nil {
		return nil, nil, err
	}
	notes, err := s.checkUser(k, nil, n.Attrs)
	if err != nil {
		return nil, nil, err
	}
	id := s.newID()
	data, err := buildBody(rt, id, n.Attrs)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	if err := s.checkLegacyName(ctx, k, "", n.Attrs); err != nil {
		return nil, nil, err
	}
	ops := []store.Op{{Kind: store.Insert, Entity: entity(k.resKey(id), encodeRow(now, now, data))}}
	ops = append(ops, indexOps(k, id, nil, n.Attrs, "")...)
	var members []scim.Member
	if n.MembersGiven {
		members = n.Members
	}
	res := &Resource{Type: k.name, ID: id, Body: data, Created: now, Modified: now}
	ch := &Change{Type: k.name, ID: id, Action: ActionCreate, Resource: res, Changed: attrNames(n.Attrs, n.MembersGiven),
		Unknown: n.Unknown, Display: displayName(k, n.Attrs), Attrs: n.Attrs, Secrets: n.Secrets, Notes: notes}
	if len(members) == 0 {
		etags, err := s.batch(ctx, ops, s.followFor(follow, ch))
		if err != nil {
			return nil, nil, s.failedCreate(ctx, k, id, s.uniquenessErr(err, k, n.Attrs))
		}
		res.ETag = etags[0]
		if k == groupKind {
			res.MembersLoaded = true
		} else {
			res.GroupsLoaded = true
		}
		return res, ch, nil
	}
	// A group with members: the group rows and the membership rows go in as
	// few batches as fit; with more than one batch the members are checked
	// first so that a bad id fails the request before anything is written.
	ch.UsersAffected = memberIDs(members)
	etag, err := s.writeMembership(ctx, id, ops, members, nil, func() store.Follow { return s.followFor(follow, ch) })
	if err != nil {
		return nil, nil, s.failedCreate(ctx, k, id, s.uniquenessErr(err, k, n.Attrs))
	}
	res.ETag = etag
	res.Members, res.MembersLoaded = members, true
	return res, ch, nil
}

// undoTimeout bounds the clean-up of a create that failed part-way.
const undoTimeout = 10 * time.Second

// failedCreate undoes what a failed create may have written and returns err.
// A client error (conflict, unknown member) wrote nothing. Any other failure
// may have left the resource behind: a group with only the members of the
// batches that went through, or a whole resource whose acknowledgement was
// lost. Either would answer the identity provider's retry of the same POST
// with 409, so the new id's rows are deleted (the id is fresh: nobody else
// has been told it). The clean-up is best effort and outlives a cancelled
// request; when storage is down it fails too, and what stays behind is still
// consistent (a group with fewer members, never a member row without its
// group or user).
func (s *Service) failedCreate(ctx context.Context, k kind, id string, err error) error {
	if _, ok := scim.AsError(err); ok {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	_, _ = s.Delete(ctx, k.name, id, "", nil)
	return err
}

func (s *Service) uniquenessErr(err error, k kind, attrs map[string]any) error {
	var be *store.BatchError
	if errors.As(err, &be) && store.IsExists(err) && strings.HasPrefix(be.Op.Entity.RowKey, k.namePrefix) {
		return scim.Conflict("a %s with %s %q already exists", strings.ToLower(string(k.name)), k.uniqueAttr, attrs[k.uniqueAttr])
	}
	return err
}

// indexOps returns the index row changes that turn old's indexes into new's
// (old nil: a create; new nil: a delete). oldKey is the key of old's
// uniqueness row when it is not nameKey (a legacy key, see storedNameKey);
// a row under a legacy key moves to its folded key.
func indexOps(k kind, id string, old, new map[string]any, oldKey string) []store.Op {
	var ops []store.Op
	oldName, _ := old[k.uniqueAttr].(string)
	newName, _ := new[k.uniqueAttr].(string)
	if oldKey == "" {
		oldKey = k.nameKey(oldName)
	}
	if old == nil || new == nil || oldKey != k.nameKey(newName) {
		if old != nil {
			ops = append(ops, store.Op{Kind: store.Delete, Entity: entity(oldKey, nil)})
		}
		if new != nil {
			ops = append(ops, store.Op{Kind: store.Insert, Entity: entity(k.nameKey(newName), []byte(id))})
		}
	}
	oldExt, _ := old["externalId"].(string)
	newExt, _ := new["externalId"].(string)
	if oldExt != newExt || new == nil {
		if oldExt != "" {
			ops = append(ops, store.Op{Kind: store.Delete, Entity: entity(k.extKey(oldExt, id), nil)})
		}
		if newExt != "" && new != nil {
			ops = append(ops, store.Op{Kind: store.Upsert, Entity: entity(k.extKey(newExt, id), []byte(id))})
		}
	}
	return ops
}

// checkLegacyName answers 409 when another resource than id holds the
// unique name of attrs under a legacy key (one written before names were
// folded: see legacyNameKeys); the Insert of the folded key in the write's
// batch checks the rest atomically. Reading first is safe because legacy
// rows are never written any more: one that is absent now cannot appear
// before the batch commits. ASCII names have no legacy key and cost no read.
func (s *Service) checkLegacyName(ctx context.Context, k kind, id string, attrs map[string]any) error {
	name, _ := attrs[k.uniqueAttr].(string)
	for _, key := range k.legacyNameKeys(name) {
		e, err := s.st.Get(ctx, Table, Partition, key)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if string(e.Data) != id {
			return scim.Conflict("a %s with %s %q already exists", strings.ToLower(string(k.name)), k.uniqueAttr, name)
		}
	}
	return nil
}

// storedNameKey returns the key of the uniqueness row that resource id with
// attributes attrs holds: nameKey, unless a row written before names were
// folded still holds it under a legacy key. Only names with legacy keys
// (rare non-ASCII ones) cost reads.
func (s *Service) storedNameKey(ctx context.Context, k kind, id string, attrs map[string]any) (string, error) {
	name, _ := attrs[k.uniqueAttr].(string)
	key := k.nameKey(name)
	legacy := k.legacyNameKeys(name)
	if len(legacy) == 0 {
		return key, nil
	}
	for _, candidate := range append([]string{key}, legacy...) {
		e, err := s.st.Get(ctx, Table, Partition, candidate)
		if store.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		if string(e.Data) == id {
			return candidate, nil
		}
	}
	return key, nil
}

// GetOptions say which derived data a read needs.
type GetOptions struct {
	// WithRelations loads a user's groups or a group's members.
	WithRelations bool
}

// Get reads one resource.
func (s *Service) Get(ctx context.Context, typ Kind, id string, opts GetOptions) (*Resource, error) {
	k, _, err := s.kindOf(typ)
	if err != nil {
		return nil, err
	}
	if !ValidID(id) {
		return nil, scim.NotFound("%s %q not found", strings.ToLower(string(k.name)), id)
	}
	what := fmt.Sprintf("%s %q", strings.ToLower(string(k.name)), id)
	if k == userKind && opts.WithRelations {
		// One range query returns the user row and its reverse membership rows.
		rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: k.resKey(id)})
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 || rows[0].RowKey != k.resKey(id) {
			return nil, scim.NotFound("%s not found", what)
		}
		res, err := decodeRow(k.name, rows[0])
		if err != nil {
			return nil, err
		}
		res.ID = id
		res.GroupsLoaded = true
		for _, r := range rows[1:] {
			res.Groups = append(res.Groups, strings.TrimPrefix(r.RowKey, k.resKey(id)+sep))
		}
		return res, nil
	}
	e, err := s.st.Get(ctx, Table, Partition, k.resKey(id))
	if err != nil {
		return nil, storeErr(err, what)
	}
	res, err := decodeRow(k.name, e)
	if err != nil {
		return nil, err
	}
	res.ID = id
	if k == groupKind && opts.WithRelations {
		if res.Members, err = s.members(ctx, id); err != nil {
			return nil, err
		}
		res.MembersLoaded = true
	}
	return res, nil
}

// membersPage is how many membership rows one read returns.
const membersPage = 1000

func (s *Service) members(ctx context.Context, gid string) ([]scim.Member, error) {
	var out []scim.Member
	err := s.eachMember(ctx, gid, func(m scim.Member) error {
		out = append(out, m)
		return nil
	})
	return out, err
}

// eachMember streams a group's members in pages.
func (s *Service) eachMember(ctx context.Context, gid string, fn func(scim.Member) error) error {
	prefix := memberPrefix(gid)
	after := ""
	for {
		rows, err := s.st.List(ctx, Table, store.Query{PartitionKey: Partition, Prefix: prefix, After: after, Limit: membersPage})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(scim.Member{Value: strings.TrimPrefix(r.RowKey, prefix), Display: string(r.Data)}); err != nil {
				return err
			}
		}
		if len(rows) < membersPage {
			return nil
		}
		after = rows[len(rows)-1].RowKey
	}
}

// EachMember calls fn for every member of group gid, streaming.
func (s *Service) EachMember(ctx context.Context, gid string, fn func(scim.Member) error) error {
	if !ValidID(gid) {
		return scim.NotFound("group %q not found", gid)
	}
	return s.eachMember(ctx, gid, fn)
}

func attrNames(attrs map[string]any, members bool) []string {
	var out []string
	for k := range attrs {
		out = append(out, k)
	}
	if members {
		out = append(out, "members")
	}
	sortStrings(out)
	return out
}

func diffNames(old, new map[string]any) []string {
	var out []string
	for k, v := range new {
		if fmt.Sprint(old[k]) != fmt.Sprint(v) {
			out = append(out, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out = append(out, k)
		}
	}
	sortStrings(out)
	return out
}

func memberIDs(ms []scim.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Value
	}
	return out
}

func displayName(k kind, attrs map[string]any) string {
	v, _ := attrs[k.uniqueAttr].(string)
	return v
}

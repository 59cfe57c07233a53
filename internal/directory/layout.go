// Package directory keeps the SCIM users and groups on a store.Store.
//
// Everything lives in one partition of one table, so that a resource, its
// uniqueness index rows and its membership rows can always change in one
// atomic batch. Table Storage allows 2,000 entity writes per second on a
// partition, two orders of magnitude above what an identity provider sends
// (Entra ID asks for 25 requests per second per tenant), and adfscim runs one
// deployment per tenant.
//
// Row keys (every user-supplied part passes through store.EncodeKey):
//
//	U|<id>              a user: created time, newline, resource JSON
//	U|<id>|<gid>        the user is a member of group gid (reverse index)
//	UN|<folded userName> userName uniqueness index, Data = id
//	UE|<externalId>|<id> externalId lookup index (not unique)
//	G|<gid>             a group: created time, newline, resource JSON
//	M|<gid>|<uid>       membership row, Data = display name sent by the IdP
//	GN|<folded displayName> displayName uniqueness index, Data = gid
//	GE|<externalId>|<gid> externalId lookup index (not unique)
//
// A name is folded with scim.FoldKey (NFC, case folding), so that spellings
// that differ only in Unicode normalisation or case are one name. Rows
// written before were keyed by strings.ToLower, which is the same key for
// ASCII; for the few non-ASCII names whose two keys differ ("ß", a name
// stored in NFD), lookups and uniqueness checks also read the old key, and
// the next write of the resource moves its row to the new key.
//
// A user's rows sort together, so reading a user with its groups is one
// range query; a group's members sit apart from the groups so that listing
// groups never reads membership rows.
package directory

import (
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Table and Partition hold the directory.
const (
	Table     = "scim"
	Partition = "dir"
)

const sep = "|"

// kind describes where one resource type's rows live.
type kind struct {
	name       Kind
	resPrefix  string // "U|"
	namePrefix string // "UN|"
	extPrefix  string // "UE|"
	uniqueAttr string // "userName"
}

var (
	userKind  = kind{name: User, resPrefix: "U|", namePrefix: "UN|", extPrefix: "UE|", uniqueAttr: "userName"}
	groupKind = kind{name: Group, resPrefix: "G|", namePrefix: "GN|", extPrefix: "GE|", uniqueAttr: "displayName"}
)

func (k kind) resKey(id string) string { return k.resPrefix + id }

func (k kind) nameKey(name string) string {
	return k.namePrefix + store.EncodeKey(scim.FoldKey(name))
}

// legacyNameKeys returns the keys other than nameKey(name) under which a
// row written before names were folded may hold name: its lower case as
// given and in NFC. Empty for ASCII names, whose key never changed.
func (k kind) legacyNameKeys(name string) []string {
	key := k.nameKey(name)
	var out []string
	for _, n := range []string{name, norm.NFC.String(name)} {
		if old := k.namePrefix + store.EncodeKey(strings.ToLower(n)); old != key && !slices.Contains(out, old) {
			out = append(out, old)
		}
	}
	return out
}

func (k kind) extKey(externalID, id string) string {
	return k.extPrefix + store.EncodeKey(externalID) + sep + id
}

func (k kind) extPrefixFor(externalID string) string {
	return k.extPrefix + store.EncodeKey(externalID) + sep
}

// userGroupKey is the reverse membership row of user uid in group gid.
func userGroupKey(uid, gid string) string { return userKind.resPrefix + uid + sep + gid }

// memberKey is the membership row of user uid in group gid.
func memberKey(gid, uid string) string { return "M|" + gid + sep + uid }

func memberPrefix(gid string) string { return "M|" + gid + sep }

// ValidID reports whether id can be one of ours: ids are server-assigned
// UUIDs, and anything else cannot name a row (and must not be spliced into a
// key).
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

func entity(rk string, data []byte) store.Entity {
	return store.Entity{PartitionKey: Partition, RowKey: rk, Data: data}
}

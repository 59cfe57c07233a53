package directory

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// Resource is a stored user or group as the directory returns it.
type Resource struct {
	Type Kind
	ID   string
	// Body is the resource JSON as stored: schemas, id and the client's
	// attributes in canonical form, without meta, groups or members.
	Body     []byte
	Created  time.Time
	Modified time.Time
	// ETag is the store's version of the resource row.
	ETag string
	// Groups are the ids of the groups a user belongs to, when loaded.
	Groups       []string
	GroupsLoaded bool
	// Members of a group, when loaded.
	Members       []scim.Member
	MembersLoaded bool
}

// Version is the resource's SCIM version (a weak HTTP entity tag), derived
// from the store's ETag so that it changes on every write of the row.
func (r *Resource) Version() string { return versionOf(r.ETag) }

func versionOf(etag string) string {
	sum := sha256.Sum256([]byte(etag))
	return `W/"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}

// Attrs decodes the stored body (numbers as json.Number).
func (r *Resource) Attrs() (map[string]any, error) {
	return decodeObject(r.Body)
}

func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// encodeRow builds the stored form: the creation time, a space, the time of
// the last change, a newline, the JSON. The modification time is stored
// rather than taken from the row's Timestamp, which the store sets when the
// batch commits: the answer to a write is built before that, and must show
// the lastModified a read of the same version shows.
func encodeRow(created, modified time.Time, body []byte) []byte {
	ts := created.UTC().Format(time.RFC3339Nano)
	ms := modified.UTC().Format(time.RFC3339Nano)
	out := make([]byte, 0, len(ts)+1+len(ms)+1+len(body))
	out = append(out, ts...)
	out = append(out, ' ')
	out = append(out, ms...)
	out = append(out, '\n')
	return append(out, body...)
}

var errCorruptRow = errors.New("directory: corrupt resource row")

// decodeRow reads a resource row. Rows written before the modification time
// was stored have only the creation time; their Timestamp stands in for it.
func decodeRow(typ Kind, e store.Entity) (*Resource, error) {
	i := bytes.IndexByte(e.Data, '\n')
	if i < 0 {
		return nil, fmt.Errorf("%w %s", errCorruptRow, e.RowKey)
	}
	cs, ms, stored := strings.Cut(string(e.Data[:i]), " ")
	created, err := time.Parse(time.RFC3339Nano, cs)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errCorruptRow, e.RowKey, err)
	}
	r := &Resource{
		Type: typ, Body: e.Data[i+1:], Created: created, Modified: e.Timestamp, ETag: e.ETag,
	}
	if stored {
		if r.Modified, err = time.Parse(time.RFC3339Nano, ms); err != nil {
			return nil, fmt.Errorf("%w %s: %v", errCorruptRow, e.RowKey, err)
		}
	}
	if r.Modified.Before(created) {
		r.Modified = created
	}
	return r, nil
}

// buildBody renders the stored JSON of a resource: schemas first, then id,
// then the attributes. encoding/json sorts map keys, so equal resources are
// stored byte-identically.
func buildBody(rt *scim.ResourceType, id string, attrs map[string]any) ([]byte, error) {
	schemas := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := attrs[e.Schema.ID]; ok {
			schemas = append(schemas, e.Schema.ID)
		}
	}
	sj, err := json.Marshal(schemas)
	if err != nil {
		return nil, err
	}
	aj, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	idj, _ := json.Marshal(id)
	var b bytes.Buffer
	b.Grow(len(aj) + len(sj) + 64)
	b.WriteString(`{"schemas":`)
	b.Write(sj)
	b.WriteString(`,"id":`)
	b.Write(idj)
	if len(aj) > 2 { // not "{}"
		b.WriteByte(',')
		b.Write(aj[1 : len(aj)-1])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// stripServerAttrs removes what buildBody adds back, so that an attribute
// map read from a stored body can be patched and stored again.
func stripServerAttrs(attrs map[string]any) {
	delete(attrs, "schemas")
	delete(attrs, "id")
}

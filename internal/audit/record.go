// Package audit keeps adfscim's tamper-evident audit trail.
//
// Every change adfscim makes or receives is written as a Record to the
// "audit" table of a store.Store. Records are partitioned by UTC day
// (PartitionKey YYYYMMDD) and numbered by one global sequence that never has a
// gap; each record carries the hash of its predecessor and its own hash, a
// SHA-256 over a canonical encoding of (sequence, previous hash, record). Each
// day partition has a head row holding the day's last sequence and hash;
// appends write [insert records..., replace head if-match] as one atomic
// batch, so writers on several instances keep one valid, gapless chain. The
// first record of a day chains to the last hash of the previous day, which
// the day's head stores as its genesis.
//
// Verify walks the trail and names the first break (a modified, deleted,
// inserted or reordered record, or a head that does not match); Query and
// Export read it; Expire removes whole days and records that it did.
//
// Wiring: open one Log per process (New(store, Options{})) and hand it as an
// Auditor to the HTTP handlers, the token manager and the reconciler; one
// Log group-commits its callers, separate Logs contend on the head row. A
// SCIM write's record is durable before the write is answered, and the write
// answers 503 when it is not. On an engine that commits follow-up writes
// (store.Follower, the embedded one) the handlers Prepare the record and it
// goes into the change's own commit, chained onto the head inside that
// commit; Append chains inside a commit there too. Elsewhere the record is
// appended once the change committed. QueryHandler serves GET /ops/v1/audit; RunCLI serves
// "adfscim audit verify|export|expire"; the timer calls Expire with
// now minus the retention when one is configured.
package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Actions recorded by adfscim. The set is open: any dotted lower-case name is
// accepted, these are the ones the handlers, the reconciler and the token
// manager write.
const (
	ActionUserCreate    = "user.create"
	ActionUserReplace   = "user.replace"
	ActionUserPatch     = "user.patch"
	ActionUserDelete    = "user.delete"
	ActionGroupCreate   = "group.create"
	ActionGroupReplace  = "group.replace"
	ActionGroupPatch    = "group.patch"
	ActionGroupDelete   = "group.delete"
	ActionAuthFailure   = "auth.failure"
	ActionAuthForbidden = "auth.forbidden"
	ActionRBACAssign    = "rbac.assign"
	ActionRBACUnassign  = "rbac.unassign"
	ActionRBACDrift     = "rbac.drift"
	ActionRBACRenew     = "rbac.renew"
	ActionRBACBudget    = "rbac.budget"
	ActionRBACExpired   = "rbac.expired"
	ActionTokenCreate   = "token.create"
	ActionTokenRotate   = "token.rotate"
	ActionTokenRevoke   = "token.revoke"
	ActionConfigLoad    = "config.load"
	ActionAuditExpire   = "audit.expire"
)

// Record is one entry of the audit trail.
type Record struct {
	// Time is when the event happened; Append sets it (UTC) when zero.
	Time time.Time `json:"time"`
	// Actor names who acted: the bearer token's client name, "reconciler",
	// "system". Never a token or any other secret.
	Actor string `json:"actor"`
	// Action is what happened, e.g. "user.patch" (see the Action constants).
	Action string `json:"action"`
	// Target is what it happened to.
	Target Target `json:"target"`
	// Changes lists the attributes set or the PATCH operations as sent,
	// with secret values removed (Append applies Redact to them).
	Changes []Change `json:"changes,omitempty"`
	// Outcome says whether it worked.
	Outcome Outcome `json:"outcome"`
	// RequestID is the HTTP request id or the Functions invocation id.
	RequestID string `json:"requestId,omitempty"`
	// Source is the client's address as seen by the server.
	Source string `json:"source,omitempty"`

	// Seq, Day, PrevHash and Hash are the record's place in the chain.
	// Append fills them in; values set by the caller are ignored. They are
	// not part of the hashed body (the hash covers Seq and PrevHash
	// separately).
	Seq      uint64 `json:"-"`
	Day      string `json:"-"`
	PrevHash string `json:"-"`
	Hash     string `json:"-"`
}

// Target identifies the resource an action was applied to.
type Target struct {
	// Type is the kind of resource: "User", "Group", "RoleAssignment",
	// "Factory", "Token", "Config", "Audit".
	Type string `json:"type,omitempty"`
	// ID is its identifier (SCIM id, ARM id, token client name, day...).
	ID string `json:"id,omitempty"`
	// Display is a human-readable name (userName, displayName...).
	Display string `json:"display,omitempty"`
}

// Change is one attribute set or one PATCH operation. For creates and
// replaces Op is "set" and Path names the attribute; for PATCH it is the
// operation as the client sent it.
type Change struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

// Outcome is the result of the action.
type Outcome struct {
	// Success is true when the action took effect.
	Success bool `json:"success"`
	// Status is the HTTP status answered (or the ARM status received).
	Status int `json:"status,omitempty"`
	// Detail says why it failed, in words safe to show an auditor.
	Detail string `json:"detail,omitempty"`
}

// Redacted replaces a secret value that had to be kept in place (a PATCH
// operation on a secret attribute keeps its op and path, not its value).
const Redacted = "[redacted]"

// IsSecretName reports whether an attribute of this name holds a secret whose
// value must never be recorded: password, anything with "secret", "password",
// "passwd", "credential", "privatekey" or "apikey" in it, and names ending in
// "token" (accessToken, bearer_token). Case, '-' and '_' are ignored. URN
// prefixes and sub-attribute paths are looked at segment by segment, so
// "urn:...:User:password" and "x.clientSecret" are secret too.
func IsSecretName(name string) bool {
	for _, seg := range strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == ':' || r == '[' || r == ']' || r == ' ' }) {
		if secretSegment(seg) {
			return true
		}
	}
	return false
}

func secretSegment(seg string) bool {
	n := normalizeSegment(seg)
	switch {
	case n == "pwd" || n == "pin":
		return true
	case strings.HasSuffix(n, "token"):
		return true
	}
	for _, w := range []string{"password", "passwd", "secret", "credential", "privatekey", "apikey"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// normalizeSegment lower-cases seg and drops '-' and '_' ("api_key" and
// "API-Key" both become "apikey"), without allocating for the common
// already-plain name.
func normalizeSegment(seg string) string {
	plain := true
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; c == '-' || c == '_' || (c >= 'A' && c <= 'Z') || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return seg
	}
	var b strings.Builder
	b.Grow(len(seg))
	for _, r := range strings.ToLower(seg) {
		if r != '-' && r != '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Redact returns a copy of v, a JSON-like value (maps, slices, scalars as
// produced by encoding/json), without any secret: object members whose name
// IsSecretName are dropped at any depth, and the "value" of an object that
// looks like a PATCH operation on a secret path ({"op":…,"path":"password",
// "value":…}) is replaced by Redacted. v itself is not modified.
func Redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		// A PATCH operation ({"op", "path", "value"}, member names in any
		// case) on a secret path keeps its op and path only.
		hasOp, secretPath := false, false
		for k, val := range t {
			switch {
			case strings.EqualFold(k, "op"):
				hasOp = true
			case strings.EqualFold(k, "path"):
				if p, ok := val.(string); ok && IsSecretName(pathAttr(p)) {
					secretPath = true
				}
			}
		}
		secretPath = secretPath && hasOp
		for k, val := range t {
			if IsSecretName(k) {
				continue
			}
			if secretPath && strings.EqualFold(k, "value") {
				out[k] = Redacted
				continue
			}
			out[k] = Redact(val)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = Redact(val)
		}
		return out
	default:
		return v
	}
}

// pathAttr strips the value filters from a SCIM path, so that a filter value
// ("emails[type eq \"token\"]") is not mistaken for an attribute name.
func pathAttr(p string) string {
	var b strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']':
			if depth > 0 {
				depth--
			}
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// redactChanges normalises every Change value to plain JSON data and removes
// secrets from it; a change whose path names a secret keeps only its op and
// path.
func redactChanges(cs []Change) ([]Change, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	out := make([]Change, 0, len(cs))
	for i, c := range cs {
		v, err := plainJSON(c.Value)
		if err != nil {
			return nil, fmt.Errorf("change %d (%s %s): %w", i, c.Op, c.Path, err)
		}
		c.Value = Redact(v)
		if c.Path != "" && IsSecretName(pathAttr(c.Path)) {
			if c.Value != nil {
				c.Value = Redacted
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// plainJSON turns any value (structs, json.RawMessage, typed maps) into the
// generic form encoding/json decodes to, so that Redact sees every member
// name as it will be written.
func plainJSON(v any) (any, error) {
	switch v.(type) {
	case nil, string, bool, float64:
		return v, nil
	}
	if out, ok := plainCopy(v); ok {
		return out, nil
	}
	var raw []byte
	switch t := v.(type) {
	case json.RawMessage:
		raw = t
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// plainCopy is plainJSON without the encoding round trip, for the values
// SCIM code passes in (decoded JSON, numbers as json.Number): it copies
// them, turning numbers into float64 exactly as json.Unmarshal would. ok is
// false for any other type, which then takes the round trip.
func plainCopy(v any) (any, bool) {
	switch t := v.(type) {
	case nil, string, bool, float64:
		return v, true
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		return f, err == nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			c, ok := plainCopy(x)
			if !ok {
				return nil, false
			}
			out[k] = c
		}
		return out, true
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			c, ok := plainCopy(x)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	}
	return nil, false
}

// ChangesFromPatch turns the Operations array of a SCIM PATCH request body
// (raw JSON, as the client sent it) into Changes, secrets redacted. Op names
// are kept as sent ("Replace" from Entra stays "Replace").
func ChangesFromPatch(operations json.RawMessage) ([]Change, error) {
	var ops []struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	if err := json.Unmarshal(operations, &ops); err != nil {
		return nil, fmt.Errorf("audit: patch operations: %w", err)
	}
	cs := make([]Change, len(ops))
	for i, o := range ops {
		cs[i] = Change{Op: o.Op, Path: o.Path, Value: o.Value}
	}
	return redactChanges(cs)
}

// ChangesFromOperations is ChangesFromPatch for operations decoded already
// (op, path and value as the client sent them): secrets redacted.
func ChangesFromOperations(cs []Change) ([]Change, error) { return redactChanges(cs) }

// ChangesFromResource lists the attributes of a resource body (POST or PUT)
// as "set" changes, sorted by attribute name. A top-level secret attribute
// (an Okta password) is listed with the value Redacted, so the trail shows
// that it was set; secrets deeper inside are dropped.
func ChangesFromResource(resource json.RawMessage) ([]Change, error) {
	var m map[string]any
	if err := json.Unmarshal(resource, &m); err != nil {
		return nil, fmt.Errorf("audit: resource: %w", err)
	}
	return ChangesFromAttributes(m, nil), nil
}

// ChangesFromAttributes is ChangesFromResource for attributes already
// decoded (a create's or replace's stored attributes): one "set" per
// attribute, secret ones redacted, plus a redacted "set" for each secret
// path the client sent and the service discarded (so the trail shows that a
// password was set, never what it was).
func ChangesFromAttributes(m map[string]any, secrets []string) []Change {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cs := make([]Change, 0, len(keys))
	for _, k := range keys {
		v := any(Redacted)
		if !IsSecretName(k) {
			v = Redact(m[k])
		}
		cs = append(cs, Change{Op: "set", Path: k, Value: v})
	}
	for _, p := range secrets {
		cs = append(cs, Change{Op: "set", Path: p, Value: Redacted})
	}
	return cs
}

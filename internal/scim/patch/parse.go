// Package patch implements SCIM 2.0 PATCH (RFC 7644 §3.5.2) over resources
// decoded into map[string]any, in every dialect the identity providers
// speak: Microsoft Entra ID (capitalised ops, string booleans, member
// removal by value array, dotted and URN-qualified keys in path-less values
// with aadOptscim062020) and Okta (path-less replace with the resource id,
// member arrays, `replace members []`).
//
// Apply works on a copy and is atomic: on error the caller's resource is
// untouched. Multi-valued attributes named in Options.External (a group's
// members) are never applied to the resource; their changes come back as a
// Delta so the directory can write membership rows one by one instead of
// rewriting a group of 50,000 members.
package patch

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// Operation kinds, as Parse normalises them.
const (
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// Operation is one entry of a PatchOp request's Operations.
type Operation struct {
	Op    string          // OpAdd, OpReplace or OpRemove (Parse lower-cases what the client sent)
	Sent  string          // the op as the client spelled it ("Replace"), for the audit trail
	Path  string          // the path as sent; "" when absent
	Value json.RawMessage // the value as sent; nil when absent

	path *filter.Path // Path parsed, nil when Path is ""
}

// ParsedPath returns the parsed Path, or nil for a path-less operation.
func (o Operation) ParsedPath() *filter.Path { return o.path }

// Parse decodes a PatchOp request body. It tolerates the case of the
// schemas URN, of member names ("operations") and of op values ("Replace",
// "ADD"); extra members (Okta's "id", the test suite's "name") are ignored.
// A body whose "schemas" is present must list the PatchOp URN; a body
// without "schemas" is accepted. Errors are 400 invalidSyntax, invalidPath
// or invalidFilter (a malformed path) or invalidValue.
func Parse(body []byte) ([]Operation, error) {
	var req struct {
		Schemas    []string `json:"schemas"`
		Operations []struct {
			Op    string          `json:"op"`
			Path  *string         `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"Operations"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &scim.Error{Code: scim.CodeInvalid, ScimType: scim.ErrInvalidSyntax, Detail: "PATCH body is not a PatchOp JSON object: " + err.Error(), Err: err}
	}
	if req.Schemas != nil {
		found := false
		for _, s := range req.Schemas {
			if strings.EqualFold(strings.TrimSpace(s), scim.SchemaPatchOp) {
				found = true
			}
		}
		if !found {
			return nil, scim.BadRequest(scim.ErrInvalidSyntax, "schemas must contain %q", scim.SchemaPatchOp)
		}
	}
	if len(req.Operations) == 0 {
		return nil, scim.BadRequest(scim.ErrInvalidSyntax, "PATCH body has no Operations")
	}
	ops := make([]Operation, len(req.Operations))
	for i, o := range req.Operations {
		op := Operation{Op: strings.ToLower(strings.TrimSpace(o.Op)), Sent: o.Op}
		switch op.Op {
		case OpAdd, OpReplace, OpRemove:
		default:
			return nil, scim.BadRequest(scim.ErrInvalidSyntax, "Operations[%d]: op %q is not add, replace or remove", i, o.Op)
		}
		if o.Path != nil && strings.TrimSpace(*o.Path) != "" {
			op.Path = *o.Path
			p, err := filter.ParsePath(op.Path)
			if err != nil {
				if se, ok := scim.AsError(err); ok {
					se.Detail = "Operations[" + strconv.Itoa(i) + "]: " + se.Detail
				}
				return nil, err
			}
			op.path = p
		}
		if v := bytes.TrimSpace(o.Value); len(v) > 0 {
			op.Value = o.Value
		}
		if op.Op != OpRemove && op.Value == nil {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "Operations[%d]: %s needs a value", i, op.Op)
		}
		if op.Op == OpRemove && op.path == nil {
			return nil, scim.BadRequest(scim.ErrNoTarget, "Operations[%d]: remove needs a path", i)
		}
		ops[i] = op
	}
	return ops, nil
}

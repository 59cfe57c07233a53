package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// bicepTypes is one types.json of Azure/bicep-types-az: an array of types
// that point at each other with {"$ref": "#/N"}.
type bicepTypes []map[string]any

func loadBicepTypes(t *testing.T, file string) bicepTypes {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bicep-types-az", file))
	if err != nil {
		t.Fatal(err)
	}
	var ts bicepTypes
	if err := json.Unmarshal(b, &ts); err != nil {
		t.Fatal(err)
	}
	return ts
}

func (ts bicepTypes) deref(ref any) map[string]any {
	m, _ := ref.(map[string]any)
	s, _ := m["$ref"].(string)
	i, err := strconv.Atoi(strings.TrimPrefix(s, "#/"))
	if err != nil || i < 0 || i >= len(ts) {
		return nil
	}
	return ts[i]
}

// body returns the ObjectType of a resource type ("Type@version").
func (ts bicepTypes) body(typ string) map[string]any {
	for _, x := range ts {
		if x["$type"] == "ResourceType" && x["name"] == typ {
			return ts.deref(x["body"])
		}
	}
	return nil
}

// check type-checks an object literal (Bicep source) against an
// ObjectType, as the Bicep compiler would: every property must be defined
// and writable, nested objects are checked in turn, and string literals
// must be among the allowed values.
func (ts bicepTypes) check(errorf func(string, ...any), where string, obj map[string]any, src string) {
	defined, _ := obj["properties"].(map[string]any)
	for name, val := range props(src) {
		if slices.Contains([]string{"parent", "scope", "dependsOn"}, name) && strings.HasSuffix(where, ": ") {
			continue // Bicep's own keywords
		}
		p, ok := defined[name].(map[string]any)
		if !ok {
			if obj["additionalProperties"] == nil {
				errorf("%s%s: not a property of %v", where, name, obj["name"])
			}
			continue
		}
		if flags, _ := p["flags"].(float64); int(flags)&2 != 0 {
			errorf("%s%s is read-only", where, name)
		}
		ts.checkValue(errorf, where+name, ts.deref(p["type"]), val)
	}
}

func (ts bicepTypes) checkValue(errorf func(string, ...any), where string, typ map[string]any, val string) {
	switch typ["$type"] {
	case "ObjectType":
		if strings.HasPrefix(val, "{") {
			ts.check(errorf, where+".", typ, val)
		}
	case "ArrayType":
		if strings.HasPrefix(val, "[") {
			for _, item := range strings.Fields(strings.Trim(val, "[]")) {
				ts.checkValue(errorf, where+"[]", ts.deref(typ["itemType"]), item)
			}
		}
	case "BooleanType":
		if val != "true" && val != "false" && !isExpression(val) {
			errorf("%s = %s, want a bool", where, val)
		}
	case "IntegerType":
		if strings.HasPrefix(val, "'") {
			errorf("%s = %s, want an int", where, val)
		}
	case "StringLiteralType", "UnionType":
		lit, ok := stringLit(val)
		if !ok {
			return
		}
		allowed := []map[string]any{typ}
		if typ["$type"] == "UnionType" {
			allowed = nil
			for _, e := range typ["elements"].([]any) {
				allowed = append(allowed, ts.deref(e))
			}
		}
		for _, a := range allowed {
			if a["$type"] == "StringType" || a["value"] == lit {
				return
			}
		}
		errorf("%s = %s, not an allowed value", where, val)
	}
}

// isExpression reports whether a value is a reference rather than a literal.
func isExpression(v string) bool {
	return v != "" && !strings.HasPrefix(v, "'") && !strings.HasPrefix(v, "{") && !strings.HasPrefix(v, "[")
}

// TestCheckpointInfra: the checkpoint module creates what docs/compliance.md
// promises — an append-only immutable container with retention as a
// parameter, a non-exportable EC P-256 signing key, and the service's two
// narrow grants scoped to the key and the container — in bodies that the
// resource type definitions accept.
func TestCheckpointInfra(t *testing.T) {
	files := loadInfra(t)
	f := mustFile(t, files, "modules/checkpoints.bicep")
	types := map[string]bicepTypes{
		"Microsoft.Storage":       loadBicepTypes(t, "storage/2023-05-01.json"),
		"Microsoft.KeyVault":      loadBicepTypes(t, "keyvault/2023-07-01.json"),
		"Microsoft.Authorization": loadBicepTypes(t, "authorization/2022-04-01.json"),
	}
	for _, d := range f.decls("resource") {
		if strings.Contains(d.header, "existing") {
			continue
		}
		ts := types[strings.SplitN(d.typ, "/", 2)[0]]
		body := ts.body(d.typ)
		if body == nil {
			t.Errorf("%s: no definition of %s in testdata (take it from the same upstream)", d.symbol, d.typ)
			continue
		}
		ts.check(t.Errorf, d.symbol+": ", body, d.body)
	}

	t.Run("the check catches mistakes", func(t *testing.T) {
		ts := types["Microsoft.Storage"]
		body := ts.body("Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01")
		var errs []string
		record := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
		ts.check(record, "policy: ", body, "{\n  name: 'default'\n  properties: {\n    allowProtectedAppendWrite: true\n    state: 'Locked'\n    immutabilityPeriodSinceCreationInDays: '7'\n  }\n}")
		if len(errs) != 3 {
			t.Errorf("want 3 errors (unknown, read-only, wrong type), got %q", errs)
		}
	})

	policy := f.resource(t, "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies")
	for path, want := range map[string]string{
		"properties.allowProtectedAppendWrites":            "true",
		"properties.immutabilityPeriodSinceCreationInDays": "retentionDays",
	} {
		if got := get(policy.body, path); got != want {
			t.Errorf("immutability policy %s = %q, want %q", path, got, want)
		}
	}
	key := f.resource(t, "Microsoft.KeyVault/vaults/keys")
	for path, want := range map[string]string{
		"properties.kty":                   "'EC'",
		"properties.curveName":             "'P-256'",
		"properties.attributes.exportable": "false",
		"properties.release_policy":        "",
	} {
		if got := get(key.body, path); got != want {
			t.Errorf("key %s = %q, want %q", path, got, want)
		}
	}
	if ops := strings.Fields(strings.Trim(get(key.body, "properties.keyOps"), "[]")); !slices.Equal(ops, []string{"'sign'", "'verify'"}) {
		t.Errorf("key ops %v, want sign and verify only", ops)
	}
	scopes := map[string]string{}
	for _, ra := range f.resources("Microsoft.Authorization/roleAssignments") {
		scopes[get(ra.body, "properties.roleDefinitionId")] = get(ra.body, "scope")
	}
	for role, scope := range map[string]string{"keyVaultCryptoUser": "key", "storageBlobDataContributor": "container"} {
		id := "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', " + role + ")"
		if got, ok := scopes[id]; !ok || got != scope {
			t.Errorf("%s is scoped to %q, want %q", role, got, scope)
		}
	}

	main := mustFile(t, files, "main.bicep")
	m := main.module(t, "checkpoints")
	if got := get(m.body, "params.retentionDays"); got != "checkpointRetentionDays" {
		t.Errorf("retention is %q, want the checkpointRetentionDays parameter", got)
	}
}

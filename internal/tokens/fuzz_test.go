package tokens

import (
	"slices"
	"testing"
)

// FuzzParseScopes: whatever a tag or flag holds, a parsed list is non-empty,
// known, sorted and unique, and survives a round trip through its tag form.
func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"scim.read", "scim.write, ops.read", "OPS.WRITE;scim.read", "", "admin", "scim.read,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScopes(s)
		if err != nil {
			return
		}
		if len(got) == 0 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("ParseScopes(%q) = %v", s, got)
		}
		for _, sc := range got {
			if !sc.Valid() {
				t.Fatalf("ParseScopes(%q) let %q through", s, sc)
			}
		}
		again, err := ParseScopes(FormatScopes(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("round trip of %v = %v, %v", got, again, err)
		}
	})
}

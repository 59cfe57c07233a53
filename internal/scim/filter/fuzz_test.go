package filter

import (
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

var fuzzSeeds = []string{
	`userName eq "bjensen"`,
	`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
	`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`,
	`emails[type eq "work" and value co "@x"]`,
	`emails[primary eq true].value eq "a"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`,
	`not (a pr) or b eq null and c ne 1.5e3`,
	`s eq "\u00e9\ud83d\ude00\"\\"`,
	`members[value eq "a"].display`,
}

// FuzzParseFilter: Parse never panics; whatever it accepts renders to a
// canonical form that parses to the same tree, validates or fails with a
// 400, and evaluates without panicking.
func FuzzParseFilter(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	res := decode(f, bjensen)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeInvalid {
				t.Fatalf("Parse(%q) error %v is not a 400", s, err)
			}
			return
		}
		canon := e.String()
		if len(canon) > MaxLength {
			// Escaping may make the canonical form longer than what was
			// accepted (a bare word of backslashes doubles); such a form is
			// refused like any other over-long filter.
			return
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form unstable: %q -> %q", canon, again.String())
		}
		want := e.Match(res, testUser)
		if err := e.Validate(testUser); err != nil {
			if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeInvalid {
				t.Fatalf("Validate(%q) error %v is not a 400", s, err)
			}
			return
		}
		if got := e.Match(res, testUser); got != want {
			t.Fatalf("Match of %q changed after Validate: %v -> %v", s, want, got)
		}
	})
}

// FuzzParsePath: ParsePath never panics and what it accepts round-trips.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		`userName`, `name.givenName`, `emails[type eq "work"].value`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
		`members[value eq "x"]`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeInvalid {
				t.Fatalf("ParsePath(%q) error %v is not a 400", s, err)
			}
			return
		}
		if p.Name == "" || strings.ContainsAny(p.Name, ".:[") {
			t.Fatalf("ParsePath(%q) gave attribute name %q", s, p.Name)
		}
		again, err := ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("round trip of %q (%q): %v", s, p.String(), err)
		}
	})
}

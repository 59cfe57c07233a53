package filter

import (
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

const bjensen = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "id": "2819c223",
  "externalId": "bjensen-ext",
  "userName": "bjensen@example.com",
  "displayName": "Babs Jensen",
  "nickName": "Babs",
  "active": true,
  "age": 42,
  "name": {"familyName": "Jensen", "givenName": "Barbara"},
  "emails": [
    {"value": "bjensen@example.com", "type": "work", "primary": true},
    {"value": "babs@jensen.org", "type": "home"}
  ],
  "roles": ["admin", "Reader"],
  "meta": {"created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T21:32:44.882Z"},
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
  },
  "custom": "Hello",
  "empty": "",
  "nothing": null,
  "noList": []
}`

func TestMatch(t *testing.T) {
	res := decode(t, bjensen)
	tests := []struct {
		filter string
		want   bool
	}{
		// eq and case rules
		{`userName eq "bjensen@example.com"`, true},
		{`userName eq "BJENSEN@example.com"`, true}, // caseExact false
		{`USERNAME Eq "bjensen@example.com"`, true}, // names and keywords in any case
		{`nickName eq "babs"`, false},               // caseExact true
		{`nickName eq "Babs"`, true},
		{`id eq "2819C223"`, false}, // id is caseExact
		{`id eq "2819c223"`, true},
		{`externalId eq "bjensen-ext"`, true},
		{`custom eq "hello"`, true}, // unknown attribute: case-insensitive
		{`userName ne "x"`, true},
		{`userName ne "bjensen@example.com"`, false},
		{`title ne "x"`, true}, // ne on an absent attribute
		{`title eq "x"`, false},
		// substring operators
		{`userName co "JENSEN"`, true},
		{`userName sw "bjen"`, true},
		{`userName ew "example.com"`, true},
		{`userName ew "example.org"`, false},
		{`nickName co "ab"`, true},
		{`nickName co "AB"`, false},
		// sub-attributes and multi-valued
		{`name.familyName eq "jensen"`, true},
		{`name.FamilyName eq Jensen`, true}, // bare word quirk
		{`emails.value co "jensen.org"`, true},
		{`emails.type eq "work"`, true},
		{`emails.type eq "other"`, false},
		{`emails co "babs@"`, true}, // complex multi-valued compares "value"
		{`roles eq "reader"`, true},
		{`roles eq "writer"`, false},
		// value paths
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "home" or primary eq true]`, true},
		{`emails[primary eq true].value eq "bjensen@example.com"`, true},
		{`emails[primary eq true].value eq "babs@jensen.org"`, false},
		{`emails[not (type eq "work")]`, true},
		// booleans, numbers, dateTimes
		{`active eq true`, true},
		{`active eq false`, false},
		{`active eq "True"`, true},
		{`active ne false`, true},
		{`emails[primary eq "True"]`, true},
		{`age gt 41`, true},
		{`age ge 42`, true},
		{`age lt 42`, false},
		{`age eq 42.0`, true},
		{`age le 4.2e1`, true},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, true},
		{`meta.lastModified lt "2011-05-13T04:42:34Z"`, false},
		{`meta.created eq "2011-08-01T20:29:49.793+02:00"`, true}, // same instant, other zone
		{`meta.Created gt 2011-08-01T18:29:49.7929999-00:00`, true},
		{`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, false},
		// URN-qualified names
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, true},
		{`URN:IETF:params:scim:schemas:extension:enterprise:2.0:user:EmployeeNumber eq 701984`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bjensen@example.com"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr`, false},
		// presence
		{`title pr`, false},
		{`userName pr`, true},
		{`empty pr`, false},
		{`nothing pr`, false},
		{`noList pr`, false},
		{`emails pr`, true},
		{`emails.primary pr`, true},
		{`name.middleName pr`, false},
		{`title eq null`, true},
		{`userName eq null`, false},
		{`userName ne null`, true},
		// boolean logic and precedence
		{`userName eq "x" or userName eq "bjensen@example.com"`, true},
		{`userName eq "x" and userName eq "bjensen@example.com"`, false},
		{`userName eq "x" or userName pr and title pr`, false},      // and binds tighter
		{`userName eq "x" or userName pr and active eq true`, true}, // and binds tighter
		{`(userName eq "x" or userName pr) and title pr`, false},    // parentheses
		{`userName eq "bjensen@example.com" or userName pr and title pr`, true},
		{`not (userName eq "x")`, true},
		{`NOT(userName pr)`, false},
		{`not not (userName pr)`, true},
		{`name.FamilyName eq Jensen and (emails.Value co example.com or emails.Value co example.org)`, true},
		{`userName sw O`, false},
		{`userName sw B`, true},
		// escapes in strings
		{`displayName eq "Babs\u0020Jensen"`, true},
		{`displayName eq "Babs \"Jensen\""`, false},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			e, err := Parse(tc.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := e.Match(res, testUser); got != tc.want {
				t.Errorf("Match (unvalidated) = %v, want %v (parsed as %s)", got, tc.want, e)
			}
			if err := e.Validate(testUser); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := e.Match(res, testUser); got != tc.want {
				t.Errorf("Match (validated) = %v, want %v (parsed as %s)", got, tc.want, e)
			}
		})
	}
}

func TestMatchWithoutResourceType(t *testing.T) {
	res := decode(t, bjensen)
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`userName eq "BJENSEN@example.com"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, true},
		{`age gt 5`, true},
		{`active eq true`, true},
		{`emails[type eq "work"]`, true},
	} {
		e, err := Parse(tc.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		if got := e.Match(res, nil); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`userName eq "bjensen"`, `userName eq "bjensen"`},
		{`a eq 1 or b eq 2 and c eq 3`, `(a eq 1 or (b eq 2 and c eq 3))`},
		{`a eq 1 and b eq 2 or c eq 3`, `((a eq 1 and b eq 2) or c eq 3)`},
		{`(a eq 1 or b eq 2) and c eq 3`, `((a eq 1 or b eq 2) and c eq 3)`},
		{`a eq 1 and b eq 2 and c eq 3`, `((a eq 1 and b eq 2) and c eq 3)`},
		{`not(a pr)`, `not (a pr)`},
		{`  title   PR  `, `title pr`},
		{`x eq TRUE`, `x eq true`},
		{`x eq Null`, `x eq null`},
		{`x eq -1.5e3`, `x eq -1.5e3`},
		{`x eq 01`, `x eq "01"`}, // not a JSON number: a bare word
		{`emails[type eq "work"].value co "@x"`, `emails[(type eq "work" and value co "@x")]`},
		{`meta.created gt 2015-10-10T14:38:21.8617979-07:00`, `meta.created gt "2015-10-10T14:38:21.8617979-07:00"`},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`},
		{`s eq "tab\there \/ \\ \" \ud83d\ude00"`, `s eq "tab\there / \\ \" 😀"`},
		{`$ref eq "x"`, `$ref eq "x"`},
		{`members[value eq "a" or value eq "b"]`, `members[(value eq "a" or value eq "b")]`},
		{`and eq "x"`, `and eq "x"`}, // attributes may be named like keywords
		{`not pr`, `not pr`},
	}
	for _, tc := range tests {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// The canonical form parses to the same tree.
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("round trip of %q: %v, %v", e.String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, detail string
	}{
		{``, "empty"},
		{`   `, "empty"},
		{`userName`, "expected an operator"},
		{`userName xx "a"`, "column 10"},
		{`userName eq`, "expected a value"},
		{`userName eq "a`, "unterminated string"},
		{`userName eq "a\q"`, `bad escape \q`},
		{`userName eq "a\u12"`, `bad \u escape`},
		{`userName eq "a" and`, "expected an expression"},
		{`userName eq "a" or (title pr`, "expected ) to close the ( at column 20"},
		{`(userName eq "a"))`, "column 18"},
		{`emails[type eq "work"`, "expected ] to close the [ at column 7"},
		{`emails[type eq "work"].`, "sub-attribute name"},
		{`name.familyName.x eq "a"`, "unexpected '.'"},
		{`active gt true`, "gt needs a string, number or dateTime value"},
		{`userName co null`, "co cannot compare with null"},
		{`"a" eq "b"`, "expected an attribute name"},
		{`1abc eq "b"`, "expected an attribute name"},
		{`urn:ietf:params:scim:schemas:core:2.0 eq "x"`, "attribute"},
		{`userName eq "a" userName eq "b"`, "unexpected"},
		{`userName eq "a" xor userName eq "b"`, "unexpected"},
		{"userName eq \"\xff\"", "UTF-8"},
		{"userName eq \xff", "UTF-8"},
		{"userName eq \"a\x01b\"", "column 15: string holds a raw control character (0x01)"},
		{"userName eq \"a\\\"\x19\"", "raw control character (0x19)"},
		{"userName eq a\x19b", "column 14: value holds a control character (0x19)"},
		{`userName eq` + strings.Repeat(" ", MaxLength), "longer than"},
		{strings.Repeat("(", 10000) + `a pr` + strings.Repeat(")", 10000), "longer than"},
		{strings.Repeat("(", 100) + `a pr` + strings.Repeat(")", 100), "nested more than 64"},
		{strings.Repeat("not ", 100) + `a pr`, "nested more than 64"},
		{strings.Repeat("a[", 100) + `b pr` + strings.Repeat("]", 100), "nested more than 64"},
	}
	for _, tc := range tests {
		name := tc.in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.in)
			se, ok := scim.AsError(err)
			if !ok {
				t.Fatalf("Parse(%q) error = %v, want a *scim.Error", tc.in, err)
			}
			if se.Code != scim.CodeInvalid || se.ScimType != scim.ErrInvalidFilter {
				t.Errorf("code %s scimType %q, want invalid invalidFilter", se.Code, se.ScimType)
			}
			if !strings.Contains(se.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", se.Detail, tc.detail)
			}
		})
	}
}

func TestParenthesisBomb(t *testing.T) {
	// Within the length limit but far beyond the depth limit: a 400, not a
	// stack overflow.
	n := MaxLength/2 - 4
	_, err := Parse(strings.Repeat("(", n) + "a pr" + strings.Repeat(")", n))
	if se, ok := scim.AsError(err); !ok || se.ScimType != scim.ErrInvalidFilter {
		t.Fatalf("error = %v, want 400 invalidFilter", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		filter string
		detail string // "" = valid
	}{
		{`userName eq "a"`, ""},
		{`unknownAttr gt "a"`, ""},
		{`name.unknownSub eq "a"`, ""},
		{`urn:example:ext:1.0:User:custom eq "a"`, ""},
		{`age gt 5`, ""},
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, ""},
		{`meta.created gt 2015-10-10T14:38:21.8617979-07:00`, ""},
		{`active eq "False"`, ""},
		{`emails co "x"`, ""},
		{`emails[type eq "work"]`, ""},
		{`name pr`, ""},
		{`externalId eq 123`, ""},
		{`userName eq null`, ""},
		{`active lt "x"`, "boolean attribute \"active\" supports only eq and ne"},
		{`active co "t"`, "supports only eq and ne"},
		{`emails[primary gt "a"]`, "supports only eq and ne"},
		{`active eq 1`, "cannot equal 1"},
		{`active eq "yes"`, `cannot equal "yes"`},
		{`photo gt "x"`, "binary attribute"},
		{`age gt "five"`, "number attribute"},
		{`age eq true`, "number attribute"},
		{`meta.created gt "yesterday"`, "is not a dateTime"},
		{`meta.created gt 5`, "dateTime attribute"},
		{`userName eq true`, "string attribute"},
		{`name eq "x"`, "complex attribute \"name\" cannot be compared"},
		{`userName.x eq "a"`, "has no sub-attributes"},
		{`active[value eq "x"]`, "takes no value filter"},
		{`emails[urn:x:y eq "a"]`, "cannot carry a schema URN"},
		{`emails[type eq "work"] and not (age gt "x")`, "number attribute"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			e, err := Parse(tc.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = e.Validate(testUser)
			if tc.detail == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			se, ok := scim.AsError(err)
			if !ok || se.Code != scim.CodeInvalid || se.ScimType != scim.ErrInvalidFilter {
				t.Fatalf("Validate error = %v, want 400 invalidFilter", err)
			}
			if !strings.Contains(se.Detail, tc.detail) || !strings.Contains(se.Detail, "column") {
				t.Errorf("detail %q does not mention %q and a column", se.Detail, tc.detail)
			}
		})
	}
}

func TestIndexLookup(t *testing.T) {
	tests := []struct {
		filter      string
		names       []string
		attr, value string
		ok          bool
	}{
		{`userName eq "bjensen"`, nil, "userName", "bjensen", true},
		{`USERNAME EQ "Bjensen"`, nil, "USERNAME", "Bjensen", true},
		{`externalId eq 00ujl29u0le5T6Aj10h7`, nil, "externalId", "00ujl29u0le5T6Aj10h7", true},
		{`externalId eq 123`, nil, "externalId", "123", true},
		{`userName eq "a" and active eq true`, nil, "userName", "a", true},
		{`active eq true and userName eq "a"`, nil, "userName", "a", true},
		{`(displayName eq "g" and title pr) and id eq "x"`, nil, "displayName", "g", true},
		{`displayName eq "g" and userName eq "u"`, []string{"userName", "externalId", "id"}, "userName", "u", true},
		{`username eq "u"`, []string{"userName"}, "userName", "u", true},
		{`displayName eq "g"`, []string{"userName"}, "", "", false},
		{`userName eq "a" or userName eq "b"`, nil, "", "", false},
		{`not (userName eq "a")`, nil, "", "", false},
		{`userName ne "a"`, nil, "", "", false},
		{`userName co "a"`, nil, "", "", false},
		{`userName eq null`, nil, "", "", false},
		{`name.familyName eq "a"`, nil, "", "", false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, nil, "", "", false},
		{`emails[value eq "a"]`, nil, "", "", false},
	}
	for _, tc := range tests {
		e, err := Parse(tc.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		var attr, value string
		var ok bool
		if tc.names == nil {
			attr, value, ok = e.IndexLookup()
		} else {
			attr, value, ok = e.LookupFor(tc.names...)
		}
		if attr != tc.attr || value != tc.value || ok != tc.ok {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, %v)", tc.filter, attr, value, ok, tc.attr, tc.value, tc.ok)
		}
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in             string
		urn, name, sub string
		filter         string
	}{
		{`userName`, "", "userName", "", ""},
		{`name.givenName`, "", "name", "givenName", ""},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`, scim.SchemaEnterpriseUser, "employeeNumber", "", ""},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`, scim.SchemaEnterpriseUser, "manager", "value", ""},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`, "urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User", "", ""},
		{`emails[type eq "work"]`, "", "emails", "", `type eq "work"`},
		{`emails[type eq "work"].value`, "", "emails", "value", `type eq "work"`},
		{`members[value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"]`, "", "members", "", `value eq "89bb1940-b905-4575-9e7f-6f887cfb368e"`},
		{`addresses[type eq "work" and primary eq true].streetAddress`, "", "addresses", "streetAddress", `(type eq "work" and primary eq true)`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value`, scim.SchemaUser, "emails", "value", `type eq "work"`},
		{` members `, "", "members", "", ""},
	}
	for _, tc := range tests {
		p, err := ParsePath(tc.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tc.in, err)
			continue
		}
		filter := ""
		if p.Filter != nil {
			filter = p.Filter.String()
		}
		if p.URN != tc.urn || p.Name != tc.name || p.Sub != tc.sub || filter != tc.filter {
			t.Errorf("ParsePath(%q) = {%q %q %q %q}, want {%q %q %q %q}", tc.in, p.URN, p.Name, p.Sub, filter, tc.urn, tc.name, tc.sub, tc.filter)
		}
		if again, err := ParsePath(p.String()); err != nil || again.String() != p.String() {
			t.Errorf("round trip of %q: %v", p.String(), err)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct{ in, scimType, detail string }{
		{``, scim.ErrInvalidPath, "expected an attribute name"},
		{`name.`, scim.ErrInvalidPath, "sub-attribute name"},
		{`name.givenName.x`, scim.ErrInvalidPath, "unexpected '.'"},
		{`name.givenName[type eq "a"]`, scim.ErrInvalidPath, "value filter must follow the attribute"},
		{`emails[type eq "work"`, scim.ErrInvalidPath, "missing ]"},
		{`emails[type eq]`, scim.ErrInvalidFilter, "expected a value"},
		{`emails[type eq "work"]x`, scim.ErrInvalidPath, "unexpected"},
		{`emails[type eq "work"].`, scim.ErrInvalidPath, "sub-attribute name"},
		{`user name`, scim.ErrInvalidPath, "unexpected"},
		{`emails[` + strings.Repeat("(", 100) + `a pr` + strings.Repeat(")", 100) + `]`, scim.ErrInvalidFilter, "nested"},
	}
	for _, tc := range tests {
		_, err := ParsePath(tc.in)
		se, ok := scim.AsError(err)
		if !ok || se.Code != scim.CodeInvalid || se.ScimType != tc.scimType {
			t.Errorf("ParsePath(%q) error = %v, want 400 %s", tc.in, err, tc.scimType)
			continue
		}
		if !strings.Contains(se.Detail, tc.detail) {
			t.Errorf("ParsePath(%q) detail %q does not mention %q", tc.in, se.Detail, tc.detail)
		}
	}
}

// TestSimpleParseAllocations pins the cost of the common lookup filter: one
// node, the value shared with the input.
func TestSimpleParseAllocations(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		e, err := Parse(`userName eq "bjensen@example.com"`)
		if err != nil || e.Op != OpEq {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Parse of a simple eq filter allocates %v times, want 1", allocs)
	}
}

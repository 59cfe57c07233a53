package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// This file holds a small reader for the Bicep the templates use: enough to
// find resources, modules and variables and to read property values, so the
// tests can assert what a deployment would do without the Bicep CLI (which
// cannot be installed here). Values are returned as Bicep source text.

// bicepFile is one template with comments removed.
type bicepFile struct {
	name string // path relative to infra/
	src  string
}

// decl is a resource or module declaration.
type decl struct {
	symbol string // symbolic name
	typ    string // resource type or module path
	header string // text between the type and the body's opening brace
	body   string // the object, braces included
}

func loadInfra(t *testing.T) map[string]bicepFile {
	t.Helper()
	root := filepath.Join(repoRoot(t), "infra")
	files := make(map[string]bicepFile)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".bicep") || strings.HasSuffix(p, ".bicepparam")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		files[rel] = bicepFile{name: rel, src: stripComments(string(b))}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustFile(t *testing.T, files map[string]bicepFile, name string) bicepFile {
	t.Helper()
	f, ok := files[name]
	if !ok {
		t.Fatalf("infra/%s is missing", name)
	}
	return f
}

// scanString returns the index just past the string literal starting at i
// ('...' with \' escapes, or ”'...”').
func scanString(s string, i int) int {
	if strings.HasPrefix(s[i:], "'''") {
		if end := strings.Index(s[i+3:], "'''"); end >= 0 {
			return i + 3 + end + 3
		}
		return len(s)
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '\'':
			return j + 1
		}
	}
	return len(s)
}

// stripComments removes // and /* */ comments outside string literals.
func stripComments(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\'':
			j := scanString(s, i)
			b.WriteString(s[i:j])
			i = j
		case strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return b.String()
			}
			i += 2 + end + 2
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// matchClose returns the index just past the bracket closing the one at i.
func matchClose(s string, i int) int {
	depth := 0
	for j := i; j < len(s); {
		switch c := s[j]; c {
		case '\'':
			j = scanString(s, j)
			continue
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
		j++
	}
	return len(s)
}

var declRE = regexp.MustCompile(`(?m)^(resource|module)\s+(\w+)\s+'([^']+)'`)

// decls returns the resource or module declarations of a file.
func (f bicepFile) decls(kind string) []decl {
	var out []decl
	for _, m := range declRE.FindAllStringSubmatchIndex(f.src, -1) {
		if f.src[m[2]:m[3]] != kind {
			continue
		}
		eq := strings.Index(f.src[m[1]:], "=")
		open := strings.Index(f.src[m[1]+eq:], "{")
		if eq < 0 || open < 0 {
			continue
		}
		start := m[1] + eq + open
		out = append(out, decl{
			symbol: f.src[m[4]:m[5]],
			typ:    f.src[m[6]:m[7]],
			header: f.src[m[1] : m[1]+eq+open],
			body:   f.src[start:matchClose(f.src, start)],
		})
	}
	return out
}

// resources returns the resources whose type (before @) is typ.
func (f bicepFile) resources(typ string) []decl {
	var out []decl
	for _, d := range f.decls("resource") {
		if strings.SplitN(d.typ, "@", 2)[0] == typ {
			out = append(out, d)
		}
	}
	return out
}

// resource returns the single resource of type typ.
func (f bicepFile) resource(t *testing.T, typ string) decl {
	t.Helper()
	rs := f.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("infra/%s: %d resources of type %s, want 1", f.name, len(rs), typ)
	}
	return rs[0]
}

// module returns the module declared as symbol.
func (f bicepFile) module(t *testing.T, symbol string) decl {
	t.Helper()
	for _, d := range f.decls("module") {
		if d.symbol == symbol {
			return d
		}
	}
	t.Fatalf("infra/%s: no module %s", f.name, symbol)
	return decl{}
}

var varRE = regexp.MustCompile(`(?m)^var\s+(\w+)\s*=\s*`)

// variable returns the source text of var name's value.
func (f bicepFile) variable(t *testing.T, name string) string {
	t.Helper()
	for _, m := range varRE.FindAllStringSubmatchIndex(f.src, -1) {
		if f.src[m[2]:m[3]] != name {
			continue
		}
		return valueAt(f.src, m[1])
	}
	t.Fatalf("infra/%s: no var %s", f.name, name)
	return ""
}

// vars returns every var whose value is a plain string literal.
func (f bicepFile) stringVars() map[string]string {
	out := make(map[string]string)
	for _, m := range varRE.FindAllStringSubmatchIndex(f.src, -1) {
		v := valueAt(f.src, m[1])
		if s, ok := stringLit(v); ok {
			out[f.src[m[2]:m[3]]] = s
		}
	}
	return out
}

// valueAt returns the expression starting at i: up to the end of the line,
// extended over any brackets or multi-line string it opens.
func valueAt(s string, i int) string {
	j := i
	for j < len(s) && s[j] != '\n' {
		switch s[j] {
		case '\'':
			j = scanString(s, j)
			continue
		case '{', '[', '(':
			j = matchClose(s, j)
			continue
		}
		j++
	}
	return strings.TrimSpace(s[i:j])
}

var propRE = regexp.MustCompile(`^\s*('[^']*'|[\w$]+)\s*:\s*`)

// props returns the top-level properties of an object literal (its source,
// braces included) as name -> value source text.
func props(obj string) map[string]string {
	out := make(map[string]string)
	inner := strings.TrimSpace(obj)
	if !strings.HasPrefix(inner, "{") {
		return out
	}
	inner = inner[1 : len(inner)-1]
	for i := 0; i < len(inner); {
		lineEnd := strings.IndexByte(inner[i:], '\n')
		if lineEnd < 0 {
			lineEnd = len(inner) - i
		}
		line := inner[i : i+lineEnd]
		m := propRE.FindStringSubmatchIndex(line)
		if m == nil {
			i += lineEnd + 1
			continue
		}
		name := strings.Trim(line[m[2]:m[3]], "'")
		v := valueAt(inner, i+m[1])
		out[name] = v
		i += m[1] + len(v)
		if i < len(inner) && inner[i] != '\n' {
			// skip to the end of the value's last line
			if k := strings.IndexByte(inner[i:], '\n'); k >= 0 {
				i += k
			} else {
				i = len(inner)
			}
		}
		i++
	}
	return out
}

// get follows a dotted path of properties from an object literal and
// returns the value's source text, or "" if a step is missing.
func get(obj, path string) string {
	v := obj
	for _, step := range strings.Split(path, ".") {
		next, ok := props(v)[step]
		if !ok {
			return ""
		}
		v = next
	}
	return v
}

// stringLit returns the content of a single-quoted string literal without
// interpolation.
func stringLit(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' && !strings.HasPrefix(v, "'''") && !strings.Contains(v, "${") {
		return v[1 : len(v)-1], true
	}
	return "", false
}

func TestBicepReader(t *testing.T) {
	src := stripComments(`// comment
var a = 'x // not a comment'
var b = {
  k: 'v' // trailing
  'quoted-key': [
    1
    2
  ]
  nested: {
    deep: true
  }
  s: '''
multi { line
'''
}
resource r 'Microsoft.X/y@2020-01-01' = if (cond) {
  name: 'n'
  properties: {
    p: 'q'
  }
}
`)
	f := bicepFile{name: "t.bicep", src: src}
	if got := f.stringVars()["a"]; got != "x // not a comment" {
		t.Errorf("var a = %q", got)
	}
	b := f.variable(t, "b")
	tests := []struct{ path, want string }{
		{"k", "'v'"},
		{"quoted-key", "[\n    1\n    2\n  ]"},
		{"nested.deep", "true"},
		{"s", "'''\nmulti { line\n'''"},
		{"missing", ""},
	}
	for _, tt := range tests {
		if got := get(b, tt.path); got != tt.want {
			t.Errorf("get(b, %q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	r := f.resource(t, "Microsoft.X/y")
	if r.symbol != "r" || !strings.Contains(r.header, "if (cond)") || get(r.body, "properties.p") != "'q'" {
		t.Errorf("resource = %+v", r)
	}
}

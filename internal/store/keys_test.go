package store_test

import (
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

func TestValidKey(t *testing.T) {
	cases := []struct {
		key  string
		want bool
	}{
		{"", true},
		{"alice@example.com", true},
		{"Ärger über 日本 😀", true},
		{"50% off", true},
		{"it's", true},
		{strings.Repeat("k", store.MaxKeyLen), true},
		{strings.Repeat("k", store.MaxKeyLen+1), false},
		{strings.Repeat("é", store.MaxKeyLen/2+1), false}, // counted in bytes
		{"a/b", false},
		{`a\b`, false},
		{"a#b", false},
		{"a?b", false},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x1fb", false},
		{"a\x7fb", false},
		{"a\u0080b", false},
		{"a\u009fb", false},
		{"a\u00a0b", true},
		{"a\xffb", false},
		{"a\xc3", false}, // truncated UTF-8
	}
	for _, c := range cases {
		if got := store.ValidKey(c.key); got != c.want {
			t.Errorf("ValidKey(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}

func TestEncodeKeyExamples(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"alice@example.com", "alice@example.com"},
		{"Ärger 日本 😀", "Ärger 日本 😀"},
		{"a/b", "a%2Fb"},
		{"50%", "50%25"},
		{`#?\/`, "%23%3F%5C%2F"},
		{"tab\there", "tab%09here"},
		{"\x00\x7f", "%00%7F"},
		{"\u0085", "%C2%85"},
		{"\xff", "%FF"},
		{"a\xc3", "a%C3"},
		{"\uFFFD", "\uFFFD"},
		{"it's", "it's"},
	}
	for _, c := range cases {
		if got := store.EncodeKey(c.in); got != c.want {
			t.Errorf("EncodeKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// trickyKeys are inputs that a careless encoding would merge.
func trickyKeys() []string {
	keys := []string{
		"", "%", "%%", "%25", "%2F", "/", "a/b", "a%2Fb", "a%252Fb", "a%2fb",
		"#", "%23", "?", "%3F", `\`, "%5C", "%H", "%h", "%u002F", "%u",
		"\x00", "%00", "\t", "%09", "\x7f", "%7F", "\u0080", "%80", "%C2%80", "\u0085",
		"\xff", "\xfe", "\xc3", "\xc3\xa9\xc3", "é", "%C3%A9", "\uFFFD", "%EF%BF%BD",
		"e\u0301", "A", "a", " ", "  ", "a ", " a",
		"user@example.com", "User@example.com", "user@example.com/", "user@example.com%2F",
	}
	// Long inputs around the hashing threshold.
	for _, n := range []int{170, 171, 172, 510, 511, 512, 513, 2000} {
		keys = append(keys, strings.Repeat("x", n), strings.Repeat("/", n), strings.Repeat("x", n-1)+"/", strings.Repeat("x", n-1)+"y")
	}
	return keys
}

func TestEncodeKeyInjective(t *testing.T) {
	seen := map[string]string{}
	for _, in := range trickyKeys() {
		out := store.EncodeKey(in)
		if prev, dup := seen[out]; dup {
			t.Errorf("EncodeKey(%q) = EncodeKey(%q) = %q", in, prev, out)
		}
		seen[out] = in
		if !store.ValidKey(out) {
			t.Errorf("EncodeKey(%q) = %q is not a valid key", in, out)
		}
		if again := store.EncodeKey(in); again != out {
			t.Errorf("EncodeKey(%q) not deterministic: %q then %q", in, out, again)
		}
	}
}

func TestEncodeKeyLong(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		hashed bool
	}{
		{"512 plain bytes", strings.Repeat("x", 512), false},
		{"513 plain bytes", strings.Repeat("x", 513), true},
		{"170 slashes encode to 510", strings.Repeat("/", 170) + "ab", false},
		{"171 slashes encode to 513", strings.Repeat("/", 171), true},
		{"long unicode", strings.Repeat("日", 200), true},
		{"huge", strings.Repeat("x", 1<<20), true},
	}
	for _, c := range cases {
		out := store.EncodeKey(c.in)
		if hashed := strings.HasPrefix(out, "%H"); hashed != c.hashed {
			t.Errorf("%s: EncodeKey = %q…, hashed %v, want %v", c.name, out[:min(len(out), 20)], hashed, c.hashed)
		}
		if len(out) > 512 || !store.ValidKey(out) {
			t.Errorf("%s: EncodeKey gives %d bytes, valid %v", c.name, len(out), store.ValidKey(out))
		}
		if c.hashed && len(out) != 2+64 {
			t.Errorf("%s: hashed key has %d bytes, want 66", c.name, len(out))
		}
		// A caller's prefix still fits in a key.
		if !store.ValidKey(strings.Repeat("p", store.MaxKeyLen-512) + out) {
			t.Errorf("%s: no room left for a prefix", c.name)
		}
	}
}

func TestEncodeKeyKeepsASCIIOrder(t *testing.T) {
	const alphabet = "abcXYZ019.-_@+!$&'()*,;=:~ "
	r := rand.New(rand.NewPCG(7, 11))
	in := make([]string, 500)
	for i := range in {
		b := make([]byte, 1+r.IntN(12))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		in[i] = string(b)
	}
	slices.Sort(in)
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = store.EncodeKey(s)
	}
	if !slices.IsSorted(out) {
		t.Error("EncodeKey changed the order of plain ASCII values")
	}
}

// FuzzEncodeKey checks, for any input, that the result is a valid key, that
// it decodes back to the input (so no two inputs share it) unless hashed, and
// that two different inputs never share a result.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range trickyKeys() {
		f.Add(k, "%"+k)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := store.EncodeKey(a), store.EncodeKey(b)
		if !store.ValidKey(ea) {
			t.Fatalf("EncodeKey(%q) = %q is not a valid key", a, ea)
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("EncodeKey(%q) = %q, EncodeKey(%q) = %q", a, ea, b, eb)
		}
		if strings.HasPrefix(ea, "%H") {
			if len(ea) != 66 {
				t.Fatalf("hashed key %q has %d bytes", ea, len(ea))
			}
			return
		}
		if len(ea) > 512 {
			t.Fatalf("EncodeKey(%q) has %d bytes", a, len(ea))
		}
		back, err := url.PathUnescape(ea)
		if err != nil || back != a {
			t.Fatalf("EncodeKey(%q) = %q decodes to %q, %v", a, ea, back, err)
		}
	})
}

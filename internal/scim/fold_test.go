package scim

import "testing"

func TestFoldKey(t *testing.T) {
	const (
		nfc = "j\u00fcrgen.m\u00fcller@contoso.com"   // ü precomposed
		nfd = "ju\u0308rgen.mu\u0308ller@contoso.com" // u + combining diaeresis
	)
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{nfc, nfd, true},
		{"J\u00dcRGEN.M\u00dcLLER@CONTOSO.COM", nfd, true},
		{"Stra\u00dfe", "STRASSE", true},
		{"\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3", "\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c2", true}, // final sigma
		{"Alice@Contoso.com", "alice@CONTOSO.COM", true},
		{"alice", "alicE ", false},
		{nfc, "jurgen.muller@contoso.com", false},
		{"\u212a", "k", true}, // Kelvin sign
	} {
		if got := FoldKey(tc.a) == FoldKey(tc.b); got != tc.same {
			t.Errorf("FoldKey(%q) = %q, FoldKey(%q) = %q; same = %v, want %v", tc.a, FoldKey(tc.a), tc.b, FoldKey(tc.b), got, tc.same)
		}
		if got := EqualFoldKey(tc.a, tc.b); got != tc.same {
			t.Errorf("EqualFoldKey(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
	if FoldKey(nfd) != FoldKey(FoldKey(nfd)) {
		t.Errorf("FoldKey is not idempotent on %q", nfd)
	}
}

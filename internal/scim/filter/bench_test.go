package filter

import "testing"

func BenchmarkParseSimpleEq(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, err := Parse(`userName eq "bjensen@example.com"`)
		if err != nil || e.Op != OpEq {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseComplex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(`name.FamilyName eq "Jensen" and (emails[type eq "work" and value co "@example.com"] or meta.lastModified gt "2011-05-13T04:42:34Z")`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	res := decode(b, bjensen)
	e, err := Parse(`name.FamilyName eq "jensen" and (emails[type eq "work" and value co "@example.com"] or meta.lastModified gt "2011-05-13T04:42:34Z")`)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Validate(testUser); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !e.Match(res, testUser) {
			b.Fatal("no match")
		}
	}
}

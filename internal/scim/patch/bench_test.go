package patch

import "testing"

// BenchmarkApply measures Entra's typical user update (four operations,
// including a value-path filter and a string boolean) on a small user.
func BenchmarkApply(b *testing.B) {
	ops, err := Parse([]byte(body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
		{"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
		{"op":"Replace","path":"userName","value":"5b50642d@testuser.com"},
		{"op":"Replace","path":"active","value":"False"}`)))
	if err != nil {
		b.Fatal(err)
	}
	res := decode(b, baseUser)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(res, ops, testUser, Options{ID: userID}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyActive measures the PATCH active=false of a deactivation.
func BenchmarkApplyActive(b *testing.B) {
	ops, err := Parse([]byte(body(`{"op":"replace","value":{"active":false}}`)))
	if err != nil {
		b.Fatal(err)
	}
	res := decode(b, baseUser)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(res, ops, testUser, Options{ID: userID}); err != nil {
			b.Fatal(err)
		}
	}
}

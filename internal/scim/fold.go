package scim

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// FoldKey is the form in which userName and a group's displayName are
// unique and compared case-insensitively: Unicode NFC, then full case
// folding, then NFC again, in the spirit of RFC 8265's UsernameCaseMapped
// profile (without its character restrictions, which would refuse the spaces
// of display names). So "Jürgen" written with a combining diaeresis (NFD, as
// macOS produces it) and "JÜRGEN" written precomposed have one key, and
// "Straße" and "STRASSE" too. ASCII text folds to its lower case.
func FoldKey(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	// A Caser is stateful: one per call, never shared.
	return norm.NFC.String(cases.Fold().String(norm.NFC.String(s)))
}

// EqualFoldKey reports whether a and b have the same FoldKey, without
// allocating when both are ASCII.
func EqualFoldKey(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	if isASCII(a) && isASCII(b) {
		return false
	}
	return FoldKey(a) == FoldKey(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

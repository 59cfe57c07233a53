package keyvault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

func TestParseKeyURL(t *testing.T) {
	tests := []struct {
		in, vault, name, version string
		ok                       bool
	}{
		{"https://kv-x.vault.azure.net/keys/audit-checkpoints", "https://kv-x.vault.azure.net/", "audit-checkpoints", "", true},
		{"https://kv-x.vault.azure.net/keys/audit-checkpoints/0123abcd", "https://kv-x.vault.azure.net/", "audit-checkpoints", "0123abcd", true},
		{"https://kv-x.vault.azure.net/keys/audit-checkpoints/", "https://kv-x.vault.azure.net/", "audit-checkpoints", "", true},
		{"http://kv-x.vault.azure.net/keys/a", "", "", "", false},
		{"https://kv-x.vault.azure.net/secrets/a", "", "", "", false},
		{"https://kv-x.vault.azure.net/keys/", "", "", "", false},
		{"https://kv-x.vault.azure.net/keys/a/b/c", "", "", "", false},
	}
	for _, tt := range tests {
		vault, name, version, err := ParseKeyURL(tt.in)
		if (err == nil) != tt.ok || vault != tt.vault || name != tt.name || version != tt.version {
			t.Errorf("ParseKeyURL(%q) = %q %q %q %v", tt.in, vault, name, version, err)
		}
	}
}

// TestRawToDER: a JWS r||s signature, as Key Vault returns it, becomes DER
// that ecdsa.VerifyASN1 (and openssl) accept, whatever leading zeros r and
// s have.
func TestRawToDER(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		d := sha256.Sum256([]byte{byte(i)})
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 64)
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
		der, err := RawToDER(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(&k.PublicKey, d[:], der) {
			t.Fatalf("DER of signature %d does not verify", i)
		}
	}
	if _, err := RawToDER(make([]byte, 63)); err == nil {
		t.Error("a 63-byte signature was accepted")
	}
}

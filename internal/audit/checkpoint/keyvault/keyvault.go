// Package keyvault signs checkpoints with an EC P-256 key in Azure Key
// Vault. The private key never leaves the vault: the service needs only
// the sign operation (Key Vault Crypto User on the key), and the public
// part is read with GetKey, so an auditor can also take it from
// `adfscim audit public-key` and verify without any vault access.
//
// Key Vault returns ES256 signatures as the raw 64-byte r||s of JWS (RFC
// 7518 §3.4); checkpoints carry ASN.1 DER, the form openssl and Go's
// ecdsa.VerifyASN1 read, so Sign converts.
package keyvault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Signer signs with one version of a Key Vault key.
type Signer struct {
	c       *azkeys.Client
	name    string
	version string
	kid     string
	pub     *ecdsa.PublicKey
}

// ParseKeyURL splits a key URL (https://<vault>.vault.azure.net/keys/<name>
// with an optional /<version>) into the vault URL, name and version.
func ParseKeyURL(s string) (vault, name, version string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", "", fmt.Errorf("checkpoint key %q: want https://<vault>.vault.azure.net/keys/<name>[/<version>]", s)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" || parts[1] == "" {
		return "", "", "", fmt.Errorf("checkpoint key %q: want https://<vault>.vault.azure.net/keys/<name>[/<version>]", s)
	}
	if len(parts) == 3 {
		version = parts[2]
	}
	return u.Scheme + "://" + u.Host + "/", parts[1], version, nil
}

// Open reads the key's public part (its latest version when version is
// empty) and returns a Signer bound to that version, so every signature
// it makes verifies with the key Open read.
func Open(ctx context.Context, c *azkeys.Client, name, version string) (*Signer, error) {
	resp, err := c.GetKey(ctx, name, version, nil)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", name, err)
	}
	k := resp.Key
	if k == nil || k.KID == nil {
		return nil, fmt.Errorf("checkpoint key %s: no key material in the answer", name)
	}
	pub, err := publicKey(k)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", name, err)
	}
	return &Signer{c: c, name: name, version: k.KID.Version(), kid: string(*k.KID), pub: pub}, nil
}

func publicKey(k *azkeys.JSONWebKey) (*ecdsa.PublicKey, error) {
	if k.Kty == nil || (*k.Kty != azkeys.KeyTypeEC && *k.Kty != azkeys.KeyTypeECHSM) {
		return nil, errors.New("not an EC key")
	}
	if k.Crv == nil || *k.Crv != azkeys.CurveNameP256 {
		return nil, errors.New("not a P-256 key")
	}
	if len(k.X) == 0 || len(k.Y) == 0 {
		return nil, errors.New("no public point")
	}
	if len(k.X) > 32 || len(k.Y) > 32 {
		return nil, errors.New("the public point is too long for P-256")
	}
	point := make([]byte, 65)
	point[0] = 4 // uncompressed
	copy(point[33-len(k.X):33], k.X)
	copy(point[65-len(k.Y):], k.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("the public point: %w", err)
	}
	return pub, nil
}

// KeyID is the key's identifier with its version.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey is the public part read by Open.
func (s *Signer) PublicKey(context.Context) (*ecdsa.PublicKey, error) { return s.pub, nil }

// Sign asks Key Vault for an ES256 signature of digest and returns it as
// ASN.1 DER.
func (s *Signer) Sign(ctx context.Context, digest []byte) ([]byte, error) {
	resp, err := s.c.Sign(ctx, s.name, s.version, azkeys.SignParameters{
		Algorithm: new(azkeys.SignatureAlgorithmES256),
		Value:     digest,
	}, nil)
	if err != nil {
		return nil, err
	}
	return RawToDER(resp.Result)
}

// RawToDER converts a JWS ECDSA P-256 signature (r||s, 32 bytes each) to
// ASN.1 DER (SEQUENCE { INTEGER r, INTEGER s }).
func RawToDER(raw []byte) ([]byte, error) {
	if len(raw) != 64 {
		return nil, fmt.Errorf("ES256 signature of %d bytes, want 64", len(raw))
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[:32]))
		b.AddASN1BigInt(new(big.Int).SetBytes(raw[32:]))
	})
	return b.Bytes()
}

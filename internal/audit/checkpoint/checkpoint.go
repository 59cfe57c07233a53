// Package checkpoint writes and checks signed checkpoints of the audit
// trail. The trail's hash chain proves that records were not changed in the
// middle, but whoever can write its table can cut its tail and rewrite the
// day's head; a checkpoint, kept outside the trail (an immutable append blob,
// or a file for local runs) and signed with a key that the service may use
// but not export, records how far the trail reached at a moment. Verify
// checks the trail against every checkpoint with the public key alone.
//
// A checkpoint is one line of JSON:
//
//	{"v":1,"seq":7,"time":"2026-12-02T14:00:00Z","days":[{"day":"20261202","lastSeq":42,"lastHash":"…"}],"prev":"…","kid":"…","sig":"…"}
//
// Its signed bytes (the payload) are the line without its "sig" member:
// the line is the payload with `,"sig":"<base64>"` inserted before the
// final "}". sig is the ASN.1 DER ECDSA P-256 signature over SHA-256 of
// the payload (ES256), so `openssl dgst -sha256 -verify` checks it. prev is
// the hex SHA-256 of the previous checkpoint's line (64 zeros for the
// first), chaining the checkpoints as the records are chained.
package checkpoint

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the format version written in "v".
const Version = 1

// ZeroPrev is the prev of the first checkpoint.
var ZeroPrev = strings.Repeat("0", 64)

// Checkpoint is one signed statement of how far the trail reached.
type Checkpoint struct {
	V   int    `json:"v"`
	Seq uint64 `json:"seq"`
	// Time is when the heads were read (UTC).
	Time time.Time `json:"time"`
	// Days are the ends of the days that changed since the previous
	// checkpoint: from the previous checkpoint's last day (which may have
	// been sealed since) to the open day. The first checkpoint has every
	// kept day.
	Days []Day `json:"days"`
	// Prev is the hex SHA-256 of the previous checkpoint's line.
	Prev string `json:"prev"`
	// KID names the signing key (a Key Vault key identifier with its
	// version, or local:<fingerprint>).
	KID string `json:"kid"`
	// Sig is the base64 ASN.1 DER ECDSA signature of the payload; empty in
	// the payload itself.
	Sig string `json:"sig,omitempty"`
}

// Day is where one day of the trail ended when the checkpoint was made.
type Day struct {
	Day      string `json:"day"`
	LastSeq  uint64 `json:"lastSeq"`
	LastHash string `json:"lastHash"`
}

// Signer signs checkpoints. Sign returns the ASN.1 DER ECDSA P-256
// signature of a SHA-256 digest.
type Signer interface {
	KeyID() string
	Sign(ctx context.Context, digest []byte) ([]byte, error)
	PublicKey(ctx context.Context) (*ecdsa.PublicKey, error)
}

// Position is where a Sink's next line goes: the name of its newest part
// and that part's length. Append fails with ErrConflict when another
// writer appended after it.
type Position struct {
	Part string
	Size int64
}

// ErrConflict means another writer appended since the Position was read.
var ErrConflict = errors.New("checkpoint: another writer appended first")

// Sink keeps the checkpoint lines, in order, append-only.
type Sink interface {
	// Last returns the newest line (nil for an empty sink) and the
	// position after it.
	Last(ctx context.Context) ([]byte, Position, error)
	// Append adds line (no newline) at pos; t picks the part for sinks
	// that start a new one now and then.
	Append(ctx context.Context, line []byte, pos Position, t time.Time) error
	// List returns every line, oldest first.
	List(ctx context.Context) ([][]byte, error)
}

// Payload is the signed bytes of c: its JSON without sig.
func Payload(c Checkpoint) ([]byte, error) {
	c.Sig = ""
	c.Time = c.Time.UTC()
	return json.Marshal(c)
}

// Encode signs c's payload with sig (DER) and returns the line.
func encodeLine(payload, sig []byte) []byte {
	tail := fmt.Sprintf(`,"sig":"%s"}`, base64.StdEncoding.EncodeToString(sig))
	line := make([]byte, 0, len(payload)+len(tail))
	line = append(line, payload[:len(payload)-1]...)
	return append(line, tail...)
}

// Sign builds the line of c, signed by s; c.KID is set from s.
func Sign(ctx context.Context, s Signer, c Checkpoint) ([]byte, error) {
	c.V, c.KID = Version, s.KeyID()
	payload, err := Payload(c)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(payload)
	sig, err := s.Sign(ctx, d[:])
	if err != nil {
		return nil, fmt.Errorf("checkpoint: sign: %w", err)
	}
	return encodeLine(payload, sig), nil
}

// Split separates a line into its payload and DER signature, exactly as
// the openssl walk-through in docs/compliance.md does.
func Split(line []byte) (payload, sig []byte, err error) {
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.LastIndex(line, []byte(`,"sig":"`))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, nil, errors.New("no signature at the end of the line")
	}
	b64 := line[i+len(`,"sig":"`) : len(line)-2]
	sig, err = base64.StdEncoding.DecodeString(string(b64))
	if err != nil || len(sig) == 0 {
		return nil, nil, errors.New("the signature is not base64")
	}
	payload = append(append([]byte{}, line[:i]...), '}')
	return payload, sig, nil
}

// Parse reads a line: its checkpoint (Sig set), payload and signature. The
// payload must be exactly what Payload gives for the checkpoint, so that
// one line cannot be read two ways.
func Parse(line []byte) (Checkpoint, []byte, []byte, error) {
	payload, sig, err := Split(line)
	if err != nil {
		return Checkpoint{}, nil, nil, err
	}
	var c Checkpoint
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Checkpoint{}, nil, nil, fmt.Errorf("unreadable: %w", err)
	}
	if c.V != Version {
		return Checkpoint{}, nil, nil, fmt.Errorf("version %d, want %d", c.V, Version)
	}
	canon, err := Payload(c)
	if err != nil || !bytes.Equal(canon, payload) {
		return Checkpoint{}, nil, nil, errors.New("not in canonical form")
	}
	c.Sig = base64.StdEncoding.EncodeToString(sig)
	return c, payload, sig, nil
}

// LineHash is the prev that the checkpoint after line names.
func LineHash(line []byte) string {
	h := sha256.Sum256(bytes.TrimRight(line, "\r\n"))
	return hex.EncodeToString(h[:])
}

// VerifySignature checks sig over payload with any of keys.
func VerifySignature(payload, sig []byte, keys []*ecdsa.PublicKey) bool {
	d := sha256.Sum256(payload)
	for _, k := range keys {
		if k != nil && ecdsa.VerifyASN1(k, d[:], sig) {
			return true
		}
	}
	return false
}

// MarshalPublicKey encodes k as a PEM "PUBLIC KEY" (SubjectPublicKeyInfo),
// the form openssl reads.
func MarshalPublicKey(k *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeys reads every ECDSA "PUBLIC KEY" block of a PEM file.
func ParsePublicKeys(b []byte) ([]*ecdsa.PublicKey, error) {
	var keys []*ecdsa.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: public key: %w", err)
		}
		ek, ok := k.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("checkpoint: public key is %T, want ECDSA", k)
		}
		keys = append(keys, ek)
	}
	if len(keys) == 0 {
		return nil, errors.New("checkpoint: no PUBLIC KEY block in the PEM")
	}
	return keys, nil
}

// Fingerprint is a short, stable name of a public key: hex SHA-256 of its
// SubjectPublicKeyInfo, first 16 bytes.
func Fingerprint(k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:16])
}

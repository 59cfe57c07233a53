// Package local keeps checkpoints without Azure: a file of checkpoint
// lines and an EC P-256 signing key, both in the data directory, so the
// whole flow works under `go run .`. The key file is only as safe as the
// machine: in Azure the key lives in Key Vault and the lines in an
// immutable blob.
package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
)

// Names of the files in the data directory.
const (
	KeyFile   = "checkpoint-key.pem"
	LinesFile = "checkpoints.jsonl"
)

// Key is a local signing key.
type Key struct {
	priv *ecdsa.PrivateKey
	kid  string
}

// ErrNoKey means the data directory holds no checkpoint key yet.
var ErrNoKey = errors.New("checkpoint: no local checkpoint key yet (serve creates it)")

// OpenKey reads the key in dir; when create is set and there is none, it
// makes one (PKCS#8 PEM, mode 0600).
func OpenKey(dir string, create bool) (*Key, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return createKey(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("checkpoint: %s holds no PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("checkpoint: %s is not an EC P-256 key", path)
	}
	return newKey(ek), nil
}

func createKey(path string) (*Key, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint: key: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	// O_EXCL: of two processes creating it at once, one wins and the
	// other reads the winner's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return OpenKey(filepath.Dir(path), false)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint: key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("checkpoint: key: %w", err)
	}
	return newKey(k), nil
}

func newKey(k *ecdsa.PrivateKey) *Key {
	return &Key{priv: k, kid: "local:" + checkpoint.Fingerprint(&k.PublicKey)}
}

// KeyID is local:<fingerprint of the public key>.
func (k *Key) KeyID() string { return k.kid }

// Sign signs a SHA-256 digest (ASN.1 DER).
func (k *Key) Sign(_ context.Context, digest []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, k.priv, digest)
}

// PublicKey is the key's public part.
func (k *Key) PublicKey(context.Context) (*ecdsa.PublicKey, error) {
	return &k.priv.PublicKey, nil
}

// File is a checkpoint sink on one local file, one line per checkpoint.
// It serves one process (the embedded store allows no more).
type File struct {
	Path string
}

// Last returns the file's last line and its size.
func (f File) Last(context.Context) ([]byte, checkpoint.Position, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, checkpoint.Position{Part: f.Path}, nil
	}
	if err != nil {
		return nil, checkpoint.Position{}, err
	}
	pos := checkpoint.Position{Part: f.Path, Size: int64(len(b))}
	t := bytes.TrimRight(b, "\n")
	if len(t) == 0 {
		return nil, pos, nil
	}
	return t[bytes.LastIndexByte(t, '\n')+1:], pos, nil
}

// Append adds line when the file still has pos's size.
func (f File) Append(_ context.Context, line []byte, pos checkpoint.Position, _ time.Time) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	h, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer h.Close()
	st, err := h.Stat()
	if err != nil {
		return err
	}
	if st.Size() != pos.Size {
		return checkpoint.ErrConflict
	}
	if _, err := h.Write(append(append([]byte{}, line...), '\n')); err != nil {
		return err
	}
	return h.Close()
}

// List returns every line of the file.
func (f File) List(context.Context) ([][]byte, error) {
	h, err := os.Open(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return ReadLines(h)
}

// ReadLines splits r into its non-empty lines.
func ReadLines(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		out = append(out, append([]byte{}, sc.Bytes()...))
	}
	return out, sc.Err()
}

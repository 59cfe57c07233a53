// Package tokens authenticates the bearer tokens of SCIM clients (identity
// providers, auditors, operators) and manages their lifecycle.
//
// Two sources implement the same model: the Key Vault source (package
// tokens/keyvault), where every client is a secret whose enabled, unexpired
// versions are its valid tokens, and the local source (Local), which keeps
// token records in the store for runs without Key Vault. Both hold only
// SHA-256 digests of token values in memory, look tokens up by digest and
// make the final comparison in constant time. Token values are never logged
// and never returned after creation.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Scope is one permission a token carries.
type Scope string

// The scopes a token can carry. A request outside its token's scopes is
// answered 403 by the HTTP layer.
const (
	// ScimRead lets a client read users and groups.
	ScimRead Scope = "scim.read"
	// ScimWrite lets a client create, change and delete users and groups.
	ScimWrite Scope = "scim.write"
	// OpsRead lets a client read the audit trail, reports and plans.
	OpsRead Scope = "ops.read"
	// OpsWrite lets a client trigger a reconcile.
	OpsWrite Scope = "ops.write"
)

// AllScopes lists every scope, in a stable order.
var AllScopes = []Scope{ScimRead, ScimWrite, OpsRead, OpsWrite}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(AllScopes, s) }

// ParseScopes parses a comma- or space-separated list of scopes, as written
// in a Key Vault tag or on the command line. It rejects unknown scopes and an
// empty list, and returns the scopes sorted and without duplicates.
func ParseScopes(s string) ([]Scope, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
	out := make([]Scope, 0, len(fields))
	for _, f := range fields {
		sc := Scope(strings.ToLower(strings.TrimSpace(f)))
		if !sc.Valid() {
			return nil, fmt.Errorf("%w: unknown scope %q (known: %s)", ErrInvalid, f, FormatScopes(AllScopes))
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no scopes given", ErrInvalid)
	}
	return normScopes(out), nil
}

// FormatScopes writes scopes as a comma-separated list (the tag format).
func FormatScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func normScopes(s []Scope) []Scope {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Client is the identity a token authenticated as. It never holds the token
// value or its digest.
type Client struct {
	// Name of the client, e.g. "entra" or "okta".
	Name string
	// Scopes the token grants.
	Scopes []Scope
	// KeyID names the token version that matched (a Key Vault secret version,
	// or the local record id) so that logs and the audit trail can say which
	// token was used without revealing it.
	KeyID string
}

// Has reports whether the client's token grants scope s.
func (c Client) Has(s Scope) bool { return slices.Contains(c.Scopes, s) }

// Authenticator checks a bearer token.
type Authenticator interface {
	// Authenticate returns the client a token belongs to. Errors wrap
	// ErrUnknownToken (no such valid token) or ErrUnavailable (the token
	// source cannot vouch for any token right now); the HTTP layer answers
	// 401 to both.
	Authenticate(ctx context.Context, token string) (Client, error)
}

// Info describes one token version for listing. It never holds the value.
type Info struct {
	Client  string    `json:"client"`
	Scopes  []Scope   `json:"scopes"`
	KeyID   string    `json:"keyId"`
	Created time.Time `json:"created"`
	// NotBefore and Expires are zero when unset.
	NotBefore time.Time `json:"notBefore,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	// Enabled is false for revoked (or disabled) tokens.
	Enabled bool `json:"enabled"`
}

// Active reports whether the token is accepted at time now.
func (i Info) Active(now time.Time) bool {
	return i.Enabled && (i.NotBefore.IsZero() || !now.Before(i.NotBefore)) && (i.Expires.IsZero() || now.Before(i.Expires))
}

// Manager creates, rotates, lists and revokes tokens. Both sources
// implement it; the CLI (RunCLI) drives it.
type Manager interface {
	// Create makes the first token of a new client with the given scopes.
	// expiry 0 means the token does not expire. It returns the token value,
	// which is never available again. Creating a client that already has an
	// active token fails with ErrExists: use Rotate.
	Create(ctx context.Context, client string, scopes []Scope, expiry time.Duration) (string, error)
	// Rotate makes a new token for an existing client, with the same scopes
	// and lifetime as its newest one, and lets every older active token
	// expire after overlap. It returns the new value.
	Rotate(ctx context.Context, client string, overlap time.Duration) (string, error)
	// List describes every token version of every client.
	List(ctx context.Context) ([]Info, error)
	// Revoke disables every token of a client at once.
	Revoke(ctx context.Context, client string) error
}

// Sentinel errors; check them with errors.Is.
var (
	// ErrUnknownToken means the token matches no valid token.
	ErrUnknownToken = errors.New("tokens: unknown or expired token")
	// ErrUnavailable means the token source has been unreachable for longer
	// than its grace period (or was never reached): every token is refused.
	ErrUnavailable = errors.New("tokens: token source unavailable")
	// ErrNotFound means the named client does not exist.
	ErrNotFound = errors.New("tokens: client not found")
	// ErrExists means the client already has an active token.
	ErrExists = errors.New("tokens: client already exists")
	// ErrInvalid means a bad client name, scope or duration.
	ErrInvalid = errors.New("tokens: invalid argument")
)

// Digest is the SHA-256 digest of a token value: the only form in which
// tokens are kept.
type Digest [sha256.Size]byte

// DigestOf returns the digest of a token value.
func DigestOf(token string) Digest { return sha256.Sum256([]byte(token)) }

// Equal compares two digests in constant time.
func (d Digest) Equal(o Digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// String deliberately hides the digest so that it cannot reach a log by
// accident through %v.
func (d Digest) String() string { return "Digest(redacted)" }

// GoString hides the digest from %#v too.
func (d Digest) GoString() string { return d.String() }

// TokenBytes is the entropy of a generated token: 256 bits.
const TokenBytes = 32

// NewToken generates a random 256-bit token, base64url-encoded without
// padding (43 characters, safe in an HTTP header and a Key Vault secret).
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("tokens: generate: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)

// ValidClientName reports whether name can name a client: 1 to 63 letters,
// digits or dashes, not starting with a dash. The rule fits a Key Vault
// secret name (with its prefix) and a store key without encoding.
func ValidClientName(name string) bool { return clientNameRE.MatchString(name) }

// CheckClientName returns an ErrInvalid error for a bad client name.
func CheckClientName(name string) error {
	if !ValidClientName(name) {
		return fmt.Errorf("%w: client name %q must be 1-63 letters, digits or dashes", ErrInvalid, name)
	}
	return nil
}

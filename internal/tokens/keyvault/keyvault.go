// Package keyvault is the production token source: every SCIM client is a
// Key Vault secret whose tags name the client (TagClient) and its scopes
// (TagScopes), and every enabled version of that secret that is past its
// not-before and not yet expired is a valid token. Several valid versions
// at once are what makes a rotation overlap.
//
// The source keeps only SHA-256 digests of the secret values in memory,
// refreshed in the background (Run) and early, rate-limited, when an
// unknown token is presented, so a freshly rotated token works within
// seconds. When Key Vault cannot be reached the last known set keeps
// working for a grace period; after that every token is refused
// (tokens.ErrUnavailable) until a refresh succeeds again.
//
// Wiring (the scope of the access token comes from the vault's own
// authentication challenge, and azidentity honours AZURE_AUTHORITY_HOST, so
// sovereign clouds need no extra setting):
//
//	cred, _ := azidentity.NewDefaultAzureCredential(nil)
//	kv, _ := azsecrets.NewClient(keyVaultURL, cred, nil)
//	src, err := keyvault.New(kv, keyvault.Options{Interval: refresh, Grace: grace, Logger: &log})
//	go src.Run(ctx)
//
// Serving needs the Key Vault Secrets User role on the vault; the token
// CLI (Create, Rotate, Revoke) needs Key Vault Secrets Officer.
package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/tokens"
)

// Tags on a client's secret.
const (
	// TagClient names the client; a secret without it is ignored.
	TagClient = "adfscim-client"
	// TagScopes lists the client's scopes, comma-separated.
	TagScopes = "adfscim-scopes"
	// ContentType marks secrets written by Create and Rotate.
	ContentType = "application/vnd.adfscim.token"
)

// Options configure a Source. Zero values take the defaults.
type Options struct {
	// Interval between background refreshes. Default 5m.
	Interval time.Duration
	// Grace is how long the last known token set keeps working while Key
	// Vault cannot be reached. Default 1h.
	Grace time.Duration
	// EarlyRefreshEvery is the least time between two refreshes triggered
	// by unknown tokens. Default 10s.
	EarlyRefreshEvery time.Duration
	// EarlyRefreshTimeout bounds a refresh made while a request waits.
	// Default 5s.
	EarlyRefreshTimeout time.Duration
	// SecretPrefix is prepended to a client name to name its secret.
	// Default "scim-client-".
	SecretPrefix string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives refresh failures and recoveries; default: none.
	Logger *zerolog.Logger
}

// Source authenticates tokens against, and manages tokens in, one vault.
type Source struct {
	kv   *azsecrets.Client
	opts Options
	log  zerolog.Logger

	mu      sync.RWMutex
	set     map[tokens.Digest]entry
	loaded  bool      // a refresh has succeeded at least once
	lastOK  time.Time // time of the last successful refresh
	failing bool      // the last refresh failed
	failedN int       // refresh failures since the last success

	refreshMu   sync.Mutex
	lastAttempt time.Time                // guarded by refreshMu
	digests     map[string]tokens.Digest // secret version id -> digest; versions are immutable
}

// entry is one valid token version.
type entry struct {
	client    string
	scopes    []tokens.Scope
	version   string
	notBefore time.Time
	expires   time.Time
}

// New returns a source on the vault client c. It knows no tokens until the
// first Refresh (Run makes one at once). Grace must be longer than
// Interval, or a healthy source would fail closed between two refreshes.
func New(c *azsecrets.Client, o Options) (*Source, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.Grace <= 0 {
		o.Grace = time.Hour
	}
	if o.EarlyRefreshEvery <= 0 {
		o.EarlyRefreshEvery = 10 * time.Second
	}
	if o.EarlyRefreshTimeout <= 0 {
		o.EarlyRefreshTimeout = 5 * time.Second
	}
	if o.SecretPrefix == "" {
		o.SecretPrefix = "scim-client-"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace <= o.Interval {
		return nil, fmt.Errorf("%w: token grace %s must be longer than the refresh interval %s", tokens.ErrInvalid, o.Grace, o.Interval)
	}
	log := zerolog.Nop()
	if o.Logger != nil {
		log = *o.Logger
	}
	return &Source{
		kv:      c,
		opts:    o,
		log:     log.With().Str("component", "tokens.keyvault").Logger(),
		set:     map[tokens.Digest]entry{},
		digests: map[string]tokens.Digest{},
	}, nil
}

// Run refreshes at once and then every Interval until ctx ends. Failures
// are logged and retried at the next tick.
func (s *Source) Run(ctx context.Context) {
	_ = s.Refresh(ctx)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Refresh(ctx)
		}
	}
}

// Authenticate implements tokens.Authenticator. A token that is not in the
// known set triggers one early refresh, unless one was made in the last
// EarlyRefreshEvery.
func (s *Source) Authenticate(ctx context.Context, token string) (tokens.Client, error) {
	if token == "" {
		return tokens.Client{}, tokens.ErrUnknownToken
	}
	d := tokens.DigestOf(token)
	c, err := s.lookup(d)
	if err == nil {
		return c, nil
	}
	if s.earlyRefresh(ctx) {
		return s.lookup(d)
	}
	return c, err
}

// earlyRefresh refreshes on behalf of a request presenting an unknown
// token, unless a refresh is already running (it does not queue behind it)
// or one was attempted less than EarlyRefreshEvery ago. It reports whether
// a refresh succeeded.
func (s *Source) earlyRefresh(ctx context.Context) bool {
	if !s.refreshMu.TryLock() {
		return false
	}
	defer s.refreshMu.Unlock()
	if s.opts.Now().Sub(s.lastAttempt) < s.opts.EarlyRefreshEvery {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.EarlyRefreshTimeout)
	defer cancel()
	return s.refreshLocked(ctx) == nil
}

func (s *Source) lookup(d tokens.Digest) (tokens.Client, error) {
	now := s.opts.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.loaded {
		return tokens.Client{}, fmt.Errorf("%w: no token set loaded from Key Vault yet", tokens.ErrUnavailable)
	}
	if now.Sub(s.lastOK) > s.opts.Grace {
		return tokens.Client{}, fmt.Errorf("%w: Key Vault unreachable since %s (grace %s)", tokens.ErrUnavailable, s.lastOK.UTC().Format(time.RFC3339), s.opts.Grace)
	}
	e, ok := s.set[d]
	if !ok {
		return tokens.Client{}, tokens.ErrUnknownToken
	}
	if !e.notBefore.IsZero() && now.Before(e.notBefore) || !e.expires.IsZero() && !now.Before(e.expires) {
		return tokens.Client{}, tokens.ErrUnknownToken
	}
	return tokens.Client{Name: e.client, Scopes: slices.Clone(e.scopes), KeyID: e.version}, nil
}

// Refresh reloads the token set from Key Vault now. On failure the previous
// set is kept (within the grace period) and the error, which wraps
// tokens.ErrUnavailable, is also logged.
func (s *Source) Refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *Source) refreshLocked(ctx context.Context) error {
	now := s.opts.Now()
	s.lastAttempt = now
	set, seen, err := s.load(ctx, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failedN++
		s.failing = true
		// The failure is reported as of when it happened, not when the
		// refresh started: a refresh that timed out may have taken the
		// rest of the grace with it.
		failed := s.opts.Now()
		ev := s.log.Error().Str("error", describe(err)).Int("failures", s.failedN).
			Time("failedAt", failed).Time("startedAt", now)
		if s.loaded {
			left := s.opts.Grace - failed.Sub(s.lastOK)
			ev = ev.Time("lastSuccess", s.lastOK).Bool("failingClosed", left < 0)
			if left >= 0 {
				ev = ev.Str("graceLeft", left.String())
			}
		} else {
			ev = ev.Bool("failingClosed", true)
		}
		ev.Msg("token refresh from Key Vault failed")
		return fmt.Errorf("%w: refresh: %w", tokens.ErrUnavailable, err)
	}
	switch {
	case !s.loaded:
		s.log.Info().Int("tokens", len(set)).Msg("token set loaded from Key Vault")
	case s.failing:
		s.log.Info().Int("failures", s.failedN).Time("lastSuccess", s.lastOK).Int("tokens", len(set)).Msg("token refresh from Key Vault recovered")
	default:
		s.log.Debug().Int("tokens", len(set)).Msg("token set refreshed from Key Vault")
	}
	s.set, s.loaded, s.lastOK, s.failing, s.failedN = set, true, now, false, 0
	for id := range s.digests {
		if _, ok := seen[id]; !ok {
			delete(s.digests, id)
		}
	}
	return nil
}

// load lists every client secret and its valid versions, fetching the value
// only of versions it has not seen before. Called with refreshMu held.
func (s *Source) load(ctx context.Context, now time.Time) (map[tokens.Digest]entry, map[string]struct{}, error) {
	set := map[tokens.Digest]entry{}
	seen := map[string]struct{}{}
	pager := s.kv.NewListSecretPropertiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list secrets: %w", err)
		}
		for _, sp := range page.Value {
			if sp == nil || sp.ID == nil || tag(sp.Tags, TagClient) == "" {
				continue
			}
			if err := s.loadSecret(ctx, sp, now, set, seen); err != nil {
				return nil, nil, err
			}
		}
	}
	return set, seen, nil
}

func (s *Source) loadSecret(ctx context.Context, sp *azsecrets.SecretProperties, now time.Time, set map[tokens.Digest]entry, seen map[string]struct{}) error {
	name := sp.ID.Name()
	vp := s.kv.NewListSecretPropertiesVersionsPager(name, nil)
	for vp.More() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", name, err)
		}
		for _, v := range page.Value {
			if v == nil || v.ID == nil || !usable(v.Attributes, now) {
				continue
			}
			tags := v.Tags
			if tag(tags, TagClient) == "" {
				tags = sp.Tags // a version without our tags takes the secret's
			}
			client := tag(tags, TagClient)
			scopes, err := tokens.ParseScopes(tag(tags, TagScopes))
			if err != nil || !tokens.ValidClientName(client) {
				s.log.Warn().Str("secret", name).Str("version", v.ID.Version()).Msg("ignoring token secret version with a bad client or scopes tag")
				continue
			}
			version := v.ID.Version()
			id := name + "/" + version
			d, ok := s.digests[id]
			if !ok {
				sec, err := s.kv.GetSecret(ctx, name, version, nil)
				if err != nil {
					return fmt.Errorf("get %s: %w", id, err)
				}
				if sec.Value == nil || *sec.Value == "" {
					continue
				}
				d = tokens.DigestOf(*sec.Value)
				s.digests[id] = d
			}
			seen[id] = struct{}{}
			e := entry{client: client, scopes: scopes, version: version}
			if a := v.Attributes; a != nil {
				if a.NotBefore != nil {
					e.notBefore = *a.NotBefore
				}
				if a.Expires != nil {
					e.expires = *a.Expires
				}
			}
			set[d] = e
		}
	}
	return nil
}

// usable reports whether a version is enabled and not expired at now. A
// version not yet valid is kept: Authenticate checks not-before itself, so
// it starts working on time even between refreshes.
func usable(a *azsecrets.SecretAttributes, now time.Time) bool {
	if a == nil || a.Enabled == nil || !*a.Enabled {
		return false
	}
	return a.Expires == nil || now.Before(*a.Expires)
}

func tag(tags map[string]*string, k string) string {
	if v, ok := tags[k]; ok && v != nil {
		return *v
	}
	return ""
}

// describe renders an error for the log: for a Key Vault error response
// only its status and code, so that nothing a response carried reaches the
// log.
func describe(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("Key Vault answered %d %s", re.StatusCode, re.ErrorCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

var _ tokens.Authenticator = (*Source)(nil)

package keyvault

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/adfscim/adfscim/internal/tokens"
)

// version is one version of a client's secret, as listed.
type version struct {
	id      string
	tags    map[string]*string
	enabled bool
	created time.Time
	nb, exp time.Time
}

func (v version) info(secretTags map[string]*string) tokens.Info {
	tags := v.tags
	if tag(tags, TagClient) == "" {
		tags = secretTags
	}
	scopes, _ := tokens.ParseScopes(tag(tags, TagScopes))
	return tokens.Info{Client: tag(tags, TagClient), Scopes: scopes, KeyID: v.id, Created: v.created, NotBefore: v.nb, Expires: v.exp, Enabled: v.enabled}
}

func (s *Source) secretName(client string) string { return s.opts.SecretPrefix + client }

// versions lists the versions of a secret, oldest first. A missing secret
// has none.
func (s *Source) versions(ctx context.Context, name string) ([]version, error) {
	var out []version
	p := s.kv.NewListSecretPropertiesVersionsPager(name, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("keyvault: list versions of %s: %w", name, err)
		}
		for _, sp := range page.Value {
			if sp == nil || sp.ID == nil {
				continue
			}
			v := version{id: sp.ID.Version(), tags: sp.Tags}
			if a := sp.Attributes; a != nil {
				v.enabled = a.Enabled != nil && *a.Enabled
				if a.Created != nil {
					v.created = *a.Created
				}
				if a.NotBefore != nil {
					v.nb = *a.NotBefore
				}
				if a.Expires != nil {
					v.exp = *a.Expires
				}
			}
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(a, b version) int { return a.created.Compare(b.created) })
	return out, nil
}

func (v version) active(now time.Time) bool {
	return v.enabled && (v.nb.IsZero() || !now.Before(v.nb)) && (v.exp.IsZero() || now.Before(v.exp))
}

// put writes a new version of the client's secret holding a fresh token.
func (s *Source) put(ctx context.Context, client string, scopes []tokens.Scope, lifetime time.Duration) (string, error) {
	value, err := tokens.NewToken()
	if err != nil {
		return "", err
	}
	attrs := &azsecrets.SecretAttributes{Enabled: to.Ptr(true)}
	if lifetime > 0 {
		attrs.Expires = to.Ptr(s.opts.Now().UTC().Add(lifetime).Truncate(time.Second))
	}
	_, err = s.kv.SetSecret(ctx, s.secretName(client), azsecrets.SetSecretParameters{
		Value:            &value,
		ContentType:      to.Ptr(ContentType),
		SecretAttributes: attrs,
		Tags: map[string]*string{
			TagClient: to.Ptr(client),
			TagScopes: to.Ptr(tokens.FormatScopes(scopes)),
		},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("keyvault: store token of %s: %w", client, err)
	}
	return value, nil
}

// Create implements tokens.Manager: the first version of the client's
// secret, tagged with the client and its scopes.
func (s *Source) Create(ctx context.Context, client string, scopes []tokens.Scope, expiry time.Duration) (string, error) {
	if err := tokens.CheckClientName(client); err != nil {
		return "", err
	}
	if len(scopes) == 0 || slices.ContainsFunc(scopes, func(sc tokens.Scope) bool { return !sc.Valid() }) {
		return "", fmt.Errorf("%w: bad scopes %v", tokens.ErrInvalid, scopes)
	}
	if expiry < 0 {
		return "", fmt.Errorf("%w: negative expiry", tokens.ErrInvalid)
	}
	vs, err := s.versions(ctx, s.secretName(client))
	if err != nil {
		return "", err
	}
	now := s.opts.Now()
	if slices.ContainsFunc(vs, func(v version) bool { return v.active(now) }) {
		return "", fmt.Errorf("%w: %s has an active token; rotate it instead", tokens.ErrExists, client)
	}
	sc := slices.Clone(scopes)
	slices.Sort(sc)
	return s.put(ctx, client, slices.Compact(sc), expiry)
}

// Rotate implements tokens.Manager: a new version with the scopes and
// lifetime of the newest active one; every older active version gets an
// expiry at most overlap from now.
func (s *Source) Rotate(ctx context.Context, client string, overlap time.Duration) (string, error) {
	if err := tokens.CheckClientName(client); err != nil {
		return "", err
	}
	if overlap < 0 {
		return "", fmt.Errorf("%w: negative overlap", tokens.ErrInvalid)
	}
	name := s.secretName(client)
	vs, err := s.versions(ctx, name)
	if err != nil {
		return "", err
	}
	now := s.opts.Now()
	var active []version
	for _, v := range vs {
		if v.active(now) {
			active = append(active, v)
		}
	}
	if len(active) == 0 {
		return "", fmt.Errorf("%w: %s has no active token to rotate", tokens.ErrNotFound, client)
	}
	newest := active[len(active)-1]
	scopes, err := tokens.ParseScopes(tag(newest.tags, TagScopes))
	if err != nil {
		return "", fmt.Errorf("keyvault: newest token of %s: %w", client, err)
	}
	var lifetime time.Duration
	if !newest.exp.IsZero() && !newest.created.IsZero() {
		lifetime = newest.exp.Sub(newest.created)
	}
	value, err := s.put(ctx, client, scopes, lifetime)
	if err != nil {
		return "", err
	}
	end := now.UTC().Add(overlap).Truncate(time.Second)
	var failed []string
	for _, v := range active {
		if !v.exp.IsZero() && !v.exp.After(end) {
			continue
		}
		_, err := s.kv.UpdateSecretProperties(ctx, name, v.id, azsecrets.UpdateSecretPropertiesParameters{
			SecretAttributes: &azsecrets.SecretAttributes{Expires: to.Ptr(end)},
		}, nil)
		if err != nil {
			failed = append(failed, v.id)
		}
	}
	if len(failed) > 0 {
		// The new token exists; say so, since its value is lost otherwise.
		return value, fmt.Errorf("keyvault: new token of %s stored, but versions %s keep their old expiry", client, strings.Join(failed, ", "))
	}
	return value, nil
}

// List implements tokens.Manager: every version of every client secret.
func (s *Source) List(ctx context.Context) ([]tokens.Info, error) {
	var out []tokens.Info
	pager := s.kv.NewListSecretPropertiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("keyvault: list secrets: %w", err)
		}
		for _, sp := range page.Value {
			if sp == nil || sp.ID == nil || tag(sp.Tags, TagClient) == "" {
				continue
			}
			vs, err := s.versions(ctx, sp.ID.Name())
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				out = append(out, v.info(sp.Tags))
			}
		}
	}
	return out, nil
}

// Revoke implements tokens.Manager: it disables every version of the
// client's secret (kept for the record, not deleted) and forgets them in
// this process at once; other instances drop them at their next refresh.
func (s *Source) Revoke(ctx context.Context, client string) error {
	if err := tokens.CheckClientName(client); err != nil {
		return err
	}
	name := s.secretName(client)
	vs, err := s.versions(ctx, name)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("%w: %s", tokens.ErrNotFound, client)
	}
	for _, v := range vs {
		if !v.enabled {
			continue
		}
		_, err := s.kv.UpdateSecretProperties(ctx, name, v.id, azsecrets.UpdateSecretPropertiesParameters{
			SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
		}, nil)
		if err != nil {
			return fmt.Errorf("keyvault: disable %s/%s: %w", name, v.id, err)
		}
	}
	s.mu.Lock()
	for d, e := range s.set {
		if e.client == client {
			delete(s.set, d)
		}
	}
	s.mu.Unlock()
	return nil
}

var _ tokens.Manager = (*Source)(nil)

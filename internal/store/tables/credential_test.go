package tables_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// jwtCredential hands out unsigned JWTs of the shape Microsoft Entra issues
// for storage, which Azurite's OAuth check accepts; it records the scopes the
// SDK asks for. It stands in for azidentity's managed identity credential.
type jwtCredential struct {
	audience string
	mu       sync.Mutex
	scopes   []string
}

func (c *jwtCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	c.scopes = append(c.scopes, opts.Scopes...)
	c.mu.Unlock()
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"aud": c.audience,
		"iss": "https://sts.windows.net/ab1f708d-50f6-404c-a006-d71b2ac7a606/",
		"nbf": now.Add(-time.Minute).Unix(),
		"iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"oid": "00000000-0000-0000-0000-000000000001",
	})
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("sig"))
	return azcore.AccessToken{Token: tok, ExpiresOn: now.Add(time.Hour)}, nil
}

func TestTokenCredential(t *testing.T) {
	ctx := context.Background()
	srv := azuritetest.StartTLS(t)
	open := func(audience string) (*tables.Store, *jwtCredential) {
		cred := &jwtCredential{audience: audience}
		s, err := tables.Open(ctx, tables.Options{
			Endpoint:    srv.Endpoint,
			Credential:  cred,
			TablePrefix: "cred",
			Transport:   srv.HTTPClient,
			Retry:       policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s, cred
	}

	s, cred := open("https://storage.azure.com")
	mustBatch(t, s, "t", store.Op{Kind: store.Insert, Entity: ent("p", "a", "1")})
	mustBatch(t, s, "t", store.Op{Kind: store.Insert, Entity: ent("p", "b", "2")}, store.Op{Kind: store.Replace, Entity: ent("p", "a", "3")})
	rows, err := s.List(ctx, "t", store.Query{PartitionKey: "p"})
	if err != nil || len(rows) != 2 || string(rows[0].Data) != "3" {
		t.Fatalf("List over a token credential: %v %+v", err, rows)
	}
	if !slices.Equal(slices.Compact(cred.scopes), []string{"https://storage.azure.com/.default"}) {
		t.Fatalf("token scopes %q", cred.scopes)
	}

	// a token for another resource is refused, and that is not an outage
	bad, _ := open("https://management.azure.com")
	_, err = bad.Get(ctx, "t", "p", "a")
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("wrong audience: got %v, want an authorization error", err)
	}
}

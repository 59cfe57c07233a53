package keyvault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/tokens"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one source wired to one in-memory vault through one front end.
type env struct {
	src   *Source
	vault *memVault
	clk   *testClock
	logs  *syncBuffer
}

// backends builds the same scenario on azsecrets/fake and on a TLS server
// speaking the Key Vault REST protocol with its authentication challenge.
var backends = []struct {
	name string
	new  func(t testing.TB, o Options) env
}{
	{"fake", newFakeEnv},
	{"tls", newTLSEnv},
}

func newClock() *testClock {
	// Key Vault keeps times to the second; so does the clock.
	return &testClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
}

func finish(t testing.TB, c *azsecrets.Client, v *memVault, clk *testClock, o Options) env {
	t.Helper()
	logs := &syncBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	o.Now, o.Logger = clk.Now, &log
	src, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return env{src: src, vault: v, clk: clk, logs: logs}
}

func newFakeEnv(t testing.TB, o Options) env {
	clk := newClock()
	v := newMemVault("https://adfscim-test.vault.azure.net", clk.Now)
	c, err := azsecrets.NewClient(v.base, &azfake.TokenCredential{}, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: outageTransport{vault: v, next: fake.NewServerTransport(v.fakeServer())},
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return finish(t, c, v, clk, o)
}

// tlsCredential plays Entra ID: it hands out one access token and records
// what the challenge asked it for.
type tlsCredential struct {
	mu     sync.Mutex
	token  string
	scopes []string
	tenant string
}

func (c *tlsCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes, c.tenant = o.Scopes, o.TenantID
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func newTLSEnv(t testing.TB, o Options) env {
	clk := newClock()
	const access = "kv-access-token-for-test"
	var v *memVault
	srv := httptest.NewTLSServer(nil)
	t.Cleanup(srv.Close)
	v = newMemVault(srv.URL, clk.Now)
	srv.Config.Handler = v.restHandler(access)
	cred := &tlsCredential{token: access}
	c, err := azsecrets.NewClient(srv.URL, cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cred.mu.Lock()
		defer cred.mu.Unlock()
		if len(cred.scopes) != 1 || cred.scopes[0] != "https://vault.azure.net/.default" || cred.tenant != "00000000-0000-0000-0000-000000000001" {
			t.Errorf("challenge asked for scopes %v tenant %q; want the vault resource and the challenge's tenant", cred.scopes, cred.tenant)
		}
	})
	return finish(t, c, v, clk, o)
}

var ctx = context.Background()

// expect authenticates token and checks the outcome: wantClient "" means
// the token must be refused with wantErr.
func expect(t *testing.T, e env, step, token, wantClient string, wantErr error) tokens.Client {
	t.Helper()
	c, err := e.src.Authenticate(ctx, token)
	if wantClient == "" {
		if !errors.Is(err, wantErr) {
			t.Fatalf("%s: err = %v, want %v", step, err, wantErr)
		}
		return c
	}
	if err != nil {
		t.Fatalf("%s: token refused: %v", step, err)
	}
	if c.Name != wantClient {
		t.Fatalf("%s: client %q, want %q", step, c.Name, wantClient)
	}
	return c
}

func TestRotationOverlap(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{})
			old, err := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimWrite, tokens.ScimRead}, 90*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			c := expect(t, e, "before rotation", old, "entra", nil)
			if tokens.FormatScopes(c.Scopes) != "scim.read,scim.write" {
				t.Fatalf("scopes %v", c.Scopes)
			}
			oldKey := c.KeyID

			e.clk.Advance(time.Hour)
			fresh, err := e.src.Rotate(ctx, "entra", 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			// No refresh in between: the unknown new token triggers one.
			c = expect(t, e, "new token right after rotation", fresh, "entra", nil)
			if c.KeyID == oldKey || c.KeyID == "" {
				t.Fatalf("new token matched key %q, old was %q", c.KeyID, oldKey)
			}
			if tokens.FormatScopes(c.Scopes) != "scim.read,scim.write" {
				t.Fatalf("rotated scopes %v", c.Scopes)
			}
			steps := []struct {
				advance time.Duration
				refresh bool
				oldOK   bool
			}{
				{0, false, true},
				{23 * time.Hour, true, true},
				{time.Hour - time.Second, false, true},
				{time.Second, false, false}, // expiry reached, no refresh needed
				{time.Minute, true, false},
			}
			for _, s := range steps {
				e.clk.Advance(s.advance)
				if s.refresh {
					if err := e.src.Refresh(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if s.oldOK {
					expect(t, e, "old token during overlap", old, "entra", nil)
				} else {
					expect(t, e, "old token after overlap", old, "", tokens.ErrUnknownToken)
				}
				expect(t, e, "new token", fresh, "entra", nil)
			}
		})
	}
}

func TestDisabledVersionRejectedAfterRefresh(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{})
			okta, _ := e.src.Create(ctx, "okta", []tokens.Scope{tokens.ScimWrite}, 0)
			entra, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimWrite}, 0)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expect(t, e, "before disable", okta, "okta", nil)
			// An operator disables the version in the portal.
			vs, _ := e.vault.listVersions("scim-client-okta")
			if _, ok := e.vault.update("scim-client-okta", vs[0].ID.Version(), azsecrets.UpdateSecretPropertiesParameters{SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}); !ok {
				t.Fatal("version not found")
			}
			e.clk.Advance(5 * time.Minute)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expect(t, e, "after disable and refresh", okta, "", tokens.ErrUnknownToken)
			expect(t, e, "other client", entra, "entra", nil)
			// An early refresh triggered by the refused token does not bring it back.
			e.clk.Advance(time.Minute)
			expect(t, e, "after early refresh", okta, "", tokens.ErrUnknownToken)
		})
	}
}

func TestOutageGraceFailClosedRecovery(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{Grace: time.Hour})
			tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			e.vault.setDown(true)
			steps := []struct {
				name    string
				advance time.Duration
				down    bool
				wantOK  bool
			}{
				{"outage starts, within grace", 5 * time.Minute, true, true},
				{"still within grace", 50 * time.Minute, true, true},
				{"grace ends", 5 * time.Minute, true, true},
				{"grace over: fail closed", time.Second, true, false},
				{"much later, still closed", 3 * time.Hour, true, false},
				{"vault back: recovers", time.Minute, false, true},
			}
			for _, s := range steps {
				e.clk.Advance(s.advance)
				e.vault.setDown(s.down)
				err := e.src.Refresh(ctx)
				if s.down != (err != nil) {
					t.Fatalf("%s: refresh err = %v", s.name, err)
				}
				if err != nil && !errors.Is(err, tokens.ErrUnavailable) {
					t.Fatalf("%s: refresh err %v does not wrap ErrUnavailable", s.name, err)
				}
				if s.wantOK {
					expect(t, e, s.name, tok, "entra", nil)
				} else {
					expect(t, e, s.name, tok, "", tokens.ErrUnavailable)
					expect(t, e, s.name+" (unknown token)", "whatever", "", tokens.ErrUnavailable)
				}
			}
			logs := e.logs.String()
			if n := strings.Count(logs, "token refresh from Key Vault failed"); n < 5 {
				t.Errorf("%d refresh failures logged, want one per failed refresh:\n%s", n, logs)
			}
			if !strings.Contains(logs, `"failingClosed":true`) {
				t.Errorf("log never says it fails closed:\n%s", logs)
			}
			if strings.Count(logs, "token refresh from Key Vault recovered") != 1 {
				t.Errorf("recovery not logged once:\n%s", logs)
			}
		})
	}
}

func TestNothingAcceptedBeforeFirstLoad(t *testing.T) {
	e := newFakeEnv(t, Options{})
	tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
	e.vault.setDown(true)
	expect(t, e, "never loaded", tok, "", tokens.ErrUnavailable)
	e.vault.setDown(false)
	e.clk.Advance(10 * time.Second)
	expect(t, e, "first load by early refresh", tok, "entra", nil)
}

func TestEarlyRefreshIsRateLimited(t *testing.T) {
	e := newFakeEnv(t, Options{EarlyRefreshEvery: 10 * time.Second})
	if err := e.src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	base := e.vault.listCount()
	// A flood of unknown tokens within the window makes no refresh.
	for range 50 {
		expect(t, e, "flood", "guess", "", tokens.ErrUnknownToken)
	}
	if n := e.vault.listCount() - base; n != 0 {
		t.Fatalf("%d refreshes inside the window, want 0", n)
	}
	// A token created meanwhile works once the window has passed.
	tok, _ := e.src.Create(ctx, "okta", []tokens.Scope{tokens.ScimWrite}, 0)
	expect(t, e, "new token inside the window", tok, "", tokens.ErrUnknownToken)
	e.clk.Advance(10 * time.Second)
	expect(t, e, "new token after the window", tok, "okta", nil)
	for range 50 {
		expect(t, e, "flood", "guess", "", tokens.ErrUnknownToken)
	}
	if n := e.vault.listCount() - base; n != 1 {
		t.Fatalf("%d refreshes, want exactly 1", n)
	}
}

func TestValuesFetchedOncePerVersion(t *testing.T) {
	e := newFakeEnv(t, Options{})
	_, _ = e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
	_, _ = e.src.Create(ctx, "okta", []tokens.Scope{tokens.ScimRead}, 0)
	for range 3 {
		if err := e.src.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.vault.getCount(); n != 2 {
		t.Fatalf("%d secret values fetched over three refreshes, want 2", n)
	}
}

func TestVersionSelection(t *testing.T) {
	e := newFakeEnv(t, Options{})
	now := e.clk.Now()
	put := func(name string, tags map[string]string, a *azsecrets.SecretAttributes) string {
		value, _ := tokens.NewToken()
		e.vault.set(name, azsecrets.SetSecretParameters{Value: &value, Tags: ptrTags(tags), SecretAttributes: a})
		return value
	}
	good := map[string]string{TagClient: "entra", TagScopes: "scim.read"}
	tests := []struct {
		name       string
		token      string
		wantClient string
		wantScopes string
	}{
		{"enabled, no dates", put("scim-client-entra", good, nil), "entra", "scim.read"},
		{"scopes with spaces", put("scim-client-okta", map[string]string{TagClient: "okta", TagScopes: "scim.write, scim.read"}, nil), "okta", "scim.read,scim.write"},
		{"expired", put("scim-client-a", good, &azsecrets.SecretAttributes{Expires: to.Ptr(now.Add(-time.Second))}), "", ""},
		{"disabled", put("scim-client-b", good, &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}), "", ""},
		{"not yet valid", put("scim-client-c", good, &azsecrets.SecretAttributes{NotBefore: to.Ptr(now.Add(time.Hour))}), "", ""},
		{"untagged secret", put("unrelated", map[string]string{"owner": "someone"}, nil), "", ""},
		{"unknown scope", put("scim-client-d", map[string]string{TagClient: "d", TagScopes: "scim.admin"}, nil), "", ""},
		{"no scopes", put("scim-client-e", map[string]string{TagClient: "e"}, nil), "", ""},
	}
	if err := e.src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		c, err := e.src.Authenticate(ctx, tc.token)
		if tc.wantClient == "" {
			if !errors.Is(err, tokens.ErrUnknownToken) {
				t.Errorf("%s: err = %v, want ErrUnknownToken", tc.name, err)
			}
			continue
		}
		if err != nil || c.Name != tc.wantClient || tokens.FormatScopes(c.Scopes) != tc.wantScopes {
			t.Errorf("%s: %+v, %v; want %s %s", tc.name, c, err, tc.wantClient, tc.wantScopes)
		}
	}
	// The not-before version starts working on time without a refresh.
	e.clk.Advance(time.Hour)
	expect(t, e, "not-before reached", tests[4].token, "entra", nil)
}

func TestManage(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{})
			a, err := e.src.Create(ctx, "auditor", []tokens.Scope{tokens.OpsRead}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.src.Create(ctx, "auditor", []tokens.Scope{tokens.OpsRead}, 0); !errors.Is(err, tokens.ErrExists) {
				t.Fatalf("create twice: err = %v, want ErrExists", err)
			}
			if _, err := e.src.Rotate(ctx, "nobody", time.Hour); !errors.Is(err, tokens.ErrNotFound) {
				t.Fatalf("rotate unknown: err = %v, want ErrNotFound", err)
			}
			if err := e.src.Revoke(ctx, "nobody"); !errors.Is(err, tokens.ErrNotFound) {
				t.Fatalf("revoke unknown: err = %v, want ErrNotFound", err)
			}
			if _, err := e.src.Create(ctx, "bad name", []tokens.Scope{tokens.OpsRead}, 0); !errors.Is(err, tokens.ErrInvalid) {
				t.Fatalf("bad name: err = %v, want ErrInvalid", err)
			}
			b2, _ := e.src.Rotate(ctx, "auditor", time.Hour)
			infos, err := e.src.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 2 {
				t.Fatalf("List = %+v, want 2 versions", infos)
			}
			for _, i := range infos {
				if i.Client != "auditor" || tokens.FormatScopes(i.Scopes) != "ops.read" || !i.Enabled || i.KeyID == "" {
					t.Fatalf("info %+v", i)
				}
			}
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expect(t, e, "before revoke", b2, "auditor", nil)
			if err := e.src.Revoke(ctx, "auditor"); err != nil {
				t.Fatal(err)
			}
			// Refused at once in this process, and after a refresh.
			expect(t, e, "revoked a", a, "", tokens.ErrUnknownToken)
			expect(t, e, "revoked b", b2, "", tokens.ErrUnknownToken)
			e.clk.Advance(time.Minute)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expect(t, e, "revoked after refresh", b2, "", tokens.ErrUnknownToken)
			infos, _ = e.src.List(ctx)
			for _, i := range infos {
				if i.Enabled {
					t.Fatalf("version %s still enabled after revoke", i.KeyID)
				}
			}
			// The client can start again.
			e.clk.Advance(10 * time.Second)
			c, err := e.src.Create(ctx, "auditor", []tokens.Scope{tokens.OpsRead, tokens.ScimRead}, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, e, "recreated", c, "auditor", nil)
		})
	}
}

func TestNewRejectsGraceShorterThanInterval(t *testing.T) {
	tests := []struct {
		o  Options
		ok bool
	}{
		{Options{}, true},
		{Options{Interval: time.Minute, Grace: 10 * time.Minute}, true},
		{Options{Interval: time.Hour, Grace: time.Hour}, false},
		{Options{Interval: 2 * time.Hour}, false}, // default grace 1h
		{Options{Grace: time.Minute}, false},      // default interval 5m
	}
	for _, tc := range tests {
		_, err := New(nil, tc.o)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, tokens.ErrInvalid)) {
			t.Errorf("New(%+v): err = %v, want ok=%v", tc.o, err, tc.ok)
		}
	}
}

// TestRefreshFailureLogSaysWhenAndGraceLeft: a refresh that fails after a
// long wait (a timeout) is logged as of its failure, with the grace left
// then: one that fails past the grace says it is failing closed, as the
// tokens it refuses at that moment show.
func TestRefreshFailureLogSaysWhenAndGraceLeft(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{Grace: time.Hour})
			tok, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimRead}, 0)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			lastOK := e.clk.Now()
			e.vault.mu.Lock()
			e.vault.down, e.vault.stall = true, func() { e.clk.Advance(20 * time.Second) }
			e.vault.mu.Unlock()
			steps := []struct {
				name          string
				advance       time.Duration
				failedAt      time.Duration // after the last success
				graceLeft     string        // "" when none is left
				failingClosed bool
			}{
				{"within the grace", 30 * time.Minute, 30*time.Minute + 20*time.Second, "29m40s", false},
				{"grace runs out while waiting", 29*time.Minute + 30*time.Second, 60*time.Minute + 10*time.Second, "", true},
			}
			for i, s := range steps {
				e.clk.Advance(s.advance)
				if err := e.src.Refresh(ctx); !errors.Is(err, tokens.ErrUnavailable) {
					t.Fatalf("%s: refresh err = %v", s.name, err)
				}
				var line struct {
					Message       string    `json:"message"`
					FailedAt      time.Time `json:"failedAt"`
					GraceLeft     *string   `json:"graceLeft"`
					FailingClosed bool      `json:"failingClosed"`
				}
				var n int
				for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
					if strings.Contains(l, "token refresh from Key Vault failed") {
						if n++; n == i+1 {
							if err := json.Unmarshal([]byte(l), &line); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if want := lastOK.Add(s.failedAt); !line.FailedAt.Equal(want) {
					t.Errorf("%s: logged failedAt %s, want %s (when the refresh failed)", s.name, line.FailedAt, want)
				}
				switch {
				case s.graceLeft == "" && line.GraceLeft != nil:
					t.Errorf("%s: logged %s of grace left, want none", s.name, *line.GraceLeft)
				case s.graceLeft != "" && line.GraceLeft == nil:
					t.Errorf("%s: logged no grace left, want %s", s.name, s.graceLeft)
				case s.graceLeft != "" && *line.GraceLeft != s.graceLeft:
					t.Errorf("%s: logged grace left %s, want %s", s.name, *line.GraceLeft, s.graceLeft)
				}
				if line.FailingClosed != s.failingClosed {
					t.Errorf("%s: logged failingClosed=%v, want %v", s.name, line.FailingClosed, s.failingClosed)
				}
				if s.failingClosed {
					expect(t, e, s.name, tok, "", tokens.ErrUnavailable)
				} else {
					expect(t, e, s.name, tok, "entra", nil)
				}
			}
		})
	}
}

package tokens

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
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

func TestLocalOnMemStore(t *testing.T) {
	runLocalTests(t, func(t *testing.T) store.Store { return newMemStore() })
}

// runLocalTests checks the local source on a store engine; newStore returns
// a fresh, empty store.
func runLocalTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()

	t.Run("bootstrap", func(t *testing.T) {
		st := newStore(t)
		clk := newTestClock()
		l, err := NewLocal(st, LocalOptions{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		value, err := l.Bootstrap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(value) != 43 {
			t.Fatalf("bootstrap token has %d characters, want 43 (256 bits base64url)", len(value))
		}
		c, err := l.Authenticate(ctx, value)
		if err != nil {
			t.Fatalf("bootstrap token rejected: %v", err)
		}
		if c.Name != BootstrapClient || len(c.Scopes) != len(AllScopes) {
			t.Fatalf("bootstrap client = %+v, want %q with all scopes", c, BootstrapClient)
		}
		// A restart (new source on the same store) keeps the token and does
		// not make a second one.
		l2, _ := NewLocal(st, LocalOptions{Now: clk.Now})
		again, err := l2.Bootstrap(ctx)
		if err != nil || again != "" {
			t.Fatalf("second bootstrap = %q, %v; want nothing", again, err)
		}
		if _, err := l2.Authenticate(ctx, value); err != nil {
			t.Fatalf("bootstrap token rejected after restart: %v", err)
		}
		infos, err := l2.List(ctx)
		if err != nil || len(infos) != 1 {
			t.Fatalf("List = %v, %v; want one token", infos, err)
		}
		// Revoked, it stays revoked across restarts.
		if err := l2.Revoke(ctx, BootstrapClient); err != nil {
			t.Fatal(err)
		}
		if v, _ := l2.Bootstrap(ctx); v != "" {
			t.Fatal("bootstrap re-created a revoked local token")
		}
		if _, err := l2.Authenticate(ctx, value); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("revoked bootstrap token: err = %v, want ErrUnknownToken", err)
		}
	})

	t.Run("stored without values", func(t *testing.T) {
		st := newStore(t)
		l, _ := NewLocal(st, LocalOptions{})
		v1, _ := l.Bootstrap(ctx)
		v2, err := l.Create(ctx, "okta", []Scope{ScimRead, ScimWrite}, 0)
		if err != nil {
			t.Fatal(err)
		}
		v3, err := l.Rotate(ctx, "okta", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		err = st.Scan(ctx, "tokens", func(e store.Entity) error {
			all.WriteString(e.RowKey)
			all.Write(e.Data)
			return nil
		})
		if errors.Is(err, store.ErrInvalid) { // the stand-in engine has no Scan
			all.Reset()
			all.WriteString(st.(*memStore).dump())
		} else if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{v1, v2, v3} {
			if strings.Contains(all.String(), v) {
				t.Fatal("a token value was written to the store")
			}
		}
		if all.Len() == 0 {
			t.Fatal("nothing stored")
		}
	})

	t.Run("authenticate", func(t *testing.T) {
		st := newStore(t)
		clk := newTestClock()
		static := strings.Repeat("s3cr3t-", 6)
		l, err := NewLocal(st, LocalOptions{Now: clk.Now, StaticToken: static})
		if err != nil {
			t.Fatal(err)
		}
		reader, err := l.Create(ctx, "auditor", []Scope{OpsRead, ScimRead}, 30*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		revoked, _ := l.Create(ctx, "gone", []Scope{ScimWrite}, 0)
		if err := l.Revoke(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name       string
			token      string
			advance    time.Duration
			wantClient string
			wantScopes []Scope
			wantErr    error
		}{
			{name: "static", token: static, wantClient: "configured", wantScopes: AllScopes},
			{name: "created", token: reader, wantClient: "auditor", wantScopes: []Scope{OpsRead, ScimRead}},
			{name: "empty", token: "", wantErr: ErrUnknownToken},
			{name: "unknown", token: "not-a-token", wantErr: ErrUnknownToken},
			{name: "static prefix", token: static[:len(static)-1], wantErr: ErrUnknownToken},
			{name: "revoked", token: revoked, wantErr: ErrUnknownToken},
			{name: "before expiry", token: reader, advance: 30*24*time.Hour - time.Second, wantClient: "auditor", wantScopes: []Scope{OpsRead, ScimRead}},
			{name: "expired", token: reader, advance: time.Second, wantErr: ErrUnknownToken},
			{name: "static never expires", token: static, wantClient: "configured", wantScopes: AllScopes},
		}
		for _, tc := range tests {
			clk.Advance(tc.advance)
			c, err := l.Authenticate(ctx, tc.token)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("%s: err = %v, want %v", tc.name, err, tc.wantErr)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if c.Name != tc.wantClient || FormatScopes(c.Scopes) != FormatScopes(tc.wantScopes) || c.KeyID == "" {
				t.Errorf("%s: client = %+v, want %s %v with a key id", tc.name, c, tc.wantClient, tc.wantScopes)
			}
		}
	})

	t.Run("rotate with overlap", func(t *testing.T) {
		st := newStore(t)
		clk := newTestClock()
		l, _ := NewLocal(st, LocalOptions{Now: clk.Now})
		old, err := l.Create(ctx, "entra", []Scope{ScimRead, ScimWrite}, 90*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Create(ctx, "entra", []Scope{ScimRead}, 0); !errors.Is(err, ErrExists) {
			t.Fatalf("second create: err = %v, want ErrExists", err)
		}
		clk.Advance(time.Hour)
		fresh, err := l.Rotate(ctx, "entra", 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			advance        time.Duration
			oldOK, freshOK bool
		}{
			{0, true, true},
			{24*time.Hour - time.Second, true, true},
			{time.Second, false, true},
			{89*24*time.Hour - time.Second, false, true}, // new token got the same 90-day lifetime
			{time.Second, false, false},
		}
		for i, s := range steps {
			clk.Advance(s.advance)
			c1, err1 := l.Authenticate(ctx, old)
			c2, err2 := l.Authenticate(ctx, fresh)
			if (err1 == nil) != s.oldOK || (err2 == nil) != s.freshOK {
				t.Fatalf("step %d: old err %v, new err %v; want old ok=%v new ok=%v", i, err1, err2, s.oldOK, s.freshOK)
			}
			if err1 == nil && err2 == nil && c1.KeyID == c2.KeyID {
				t.Fatalf("step %d: both versions report key id %s", i, c1.KeyID)
			}
			if err2 == nil && FormatScopes(c2.Scopes) != "scim.read,scim.write" {
				t.Fatalf("rotated token scopes = %v", c2.Scopes)
			}
		}
		if _, err := l.Rotate(ctx, "nobody", time.Hour); !errors.Is(err, ErrNotFound) {
			t.Fatalf("rotate unknown client: err = %v, want ErrNotFound", err)
		}
		if err := l.Revoke(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke unknown client: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("revoke stops every version at once", func(t *testing.T) {
		st := newStore(t)
		l, _ := NewLocal(st, LocalOptions{})
		a, _ := l.Create(ctx, "okta", []Scope{ScimWrite}, 0)
		b, _ := l.Rotate(ctx, "okta", time.Hour)
		other, _ := l.Create(ctx, "entra", []Scope{ScimWrite}, 0)
		if err := l.Revoke(ctx, "okta"); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{a, b} {
			if _, err := l.Authenticate(ctx, v); !errors.Is(err, ErrUnknownToken) {
				t.Fatalf("revoked token: err = %v", err)
			}
		}
		if _, err := l.Authenticate(ctx, other); err != nil {
			t.Fatalf("another client's token stopped working: %v", err)
		}
		// After a revocation the client can be created again.
		if _, err := l.Create(ctx, "okta", []Scope{ScimRead}, 0); err != nil {
			t.Fatalf("create after revoke: %v", err)
		}
	})

	t.Run("invalid arguments", func(t *testing.T) {
		l, _ := NewLocal(newStore(t), LocalOptions{})
		cases := []struct {
			client string
			scopes []Scope
			exp    time.Duration
		}{
			{"", []Scope{ScimRead}, 0},
			{"bad/name", []Scope{ScimRead}, 0},
			{"-dash", []Scope{ScimRead}, 0},
			{"ok", nil, 0},
			{"ok", []Scope{"scim.admin"}, 0},
			{"ok", []Scope{ScimRead}, -time.Hour},
		}
		for _, c := range cases {
			if _, err := l.Create(ctx, c.client, c.scopes, c.exp); !errors.Is(err, ErrInvalid) {
				t.Errorf("Create(%q, %v, %v): err = %v, want ErrInvalid", c.client, c.scopes, c.exp, err)
			}
		}
	})
}

func TestNewLocalRejectsShortStaticToken(t *testing.T) {
	if _, err := NewLocal(newMemStore(), LocalOptions{StaticToken: "short"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

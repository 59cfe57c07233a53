package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestRunCLI(t *testing.T) {
	ctx := context.Background()
	l, err := NewLocal(newMemStore(), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		var out, errw bytes.Buffer
		err := RunCLI(ctx, args, l, &out, &errw)
		return out.String(), errw.String(), err
	}

	// create prints the value, alone, on stdout, once.
	out, errOut, err := run("token", "create", "--client", "okta", "--scopes", "scim.write,scim.read", "--expires", "90d")
	if err != nil {
		t.Fatalf("create: %v (%s)", err, errOut)
	}
	value := strings.TrimSpace(out)
	c, err := l.Authenticate(ctx, value)
	if err != nil || c.Name != "okta" || FormatScopes(c.Scopes) != "scim.read,scim.write" {
		t.Fatalf("created token authenticates as %+v, %v", c, err)
	}
	if strings.Contains(errOut, value) {
		t.Fatal("create wrote the value to stderr")
	}

	out, _, err = run("rotate", "--client", "okta", "--overlap", "1h")
	if err != nil {
		t.Fatal(err)
	}
	rotated := strings.TrimSpace(out)
	if rotated == value || len(rotated) != 43 {
		t.Fatalf("rotate printed %q", rotated)
	}

	out, _, err = run("list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, value) || strings.Contains(out, rotated) {
		t.Fatal("list shows token values")
	}
	var infos []Info
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(infos) != 2 || infos[0].Client != "okta" || infos[0].Expires.IsZero() {
		t.Fatalf("list --json = %+v", infos)
	}
	// The older token now expires within the overlap, the new one in 90 days.
	if d := time.Until(infos[0].Expires); d > time.Hour || d <= 0 {
		t.Fatalf("old token expires in %s, want within the 1h overlap", d)
	}
	if d := time.Until(infos[1].Expires); d < 89*24*time.Hour {
		t.Fatalf("new token expires in %s, want about 90 days", d)
	}

	out, _, err = run("list")
	if err != nil || !strings.Contains(out, "CLIENT") || strings.Count(out, "okta") != 2 || !strings.Contains(out, "active") {
		t.Fatalf("list = %q, %v", out, err)
	}

	if _, _, err := run("revoke", "--client", "okta"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate(ctx, rotated); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("revoked token: %v", err)
	}
	out, _, _ = run("list")
	if strings.Count(out, "revoked") != 2 {
		t.Fatalf("list after revoke = %q", out)
	}
}

func TestRunCLIErrors(t *testing.T) {
	ctx := context.Background()
	l, _ := NewLocal(newMemStore(), LocalOptions{})
	if _, err := l.Create(ctx, "entra", []Scope{ScimRead}, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr error
	}{
		{nil, ErrUsage},
		{[]string{"token"}, ErrUsage},
		{[]string{"frobnicate"}, ErrUsage},
		{[]string{"create", "--scopes", "scim.read"}, ErrUsage},
		{[]string{"create", "--client", "x"}, ErrUsage},
		{[]string{"create", "--client", "x", "--scopes", "scim.root"}, ErrUsage},
		{[]string{"create", "--client", "x", "--scopes", "scim.read", "--expires", "soon"}, ErrUsage},
		{[]string{"create", "--client", "x/y", "--scopes", "scim.read"}, ErrUsage},
		{[]string{"create", "--client", "x", "--scopes", "scim.read", "extra"}, ErrUsage},
		{[]string{"create", "--client", "entra", "--scopes", "scim.read"}, ErrExists},
		{[]string{"rotate", "--client", "ghost"}, ErrNotFound},
		{[]string{"rotate", "--client", "entra", "--overlap", "-1h"}, ErrUsage},
		{[]string{"revoke"}, ErrUsage},
		{[]string{"revoke", "--client", "ghost"}, ErrNotFound},
		{[]string{"list", "--bogus"}, ErrUsage},
	}
	for _, tc := range tests {
		var out, errw bytes.Buffer
		err := RunCLI(ctx, tc.args, l, &out, &errw)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("%v: err = %v, want %v", tc.args, err, tc.wantErr)
		}
		if out.Len() != 0 {
			t.Errorf("%v: failed command wrote %q to stdout", tc.args, out.String())
		}
	}
}

func TestParseCLIDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"24h", 24 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"-1h", 0, false},
		{"-3d", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"99999d", 0, false},
	}
	for _, tc := range tests {
		got, err := parseCLIDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseCLIDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"scim.read", "scim.read", true},
		{"scim.write, scim.read,scim.read", "scim.read,scim.write", true},
		{"SCIM.READ ops.write", "ops.write,scim.read", true},
		{"", "", false},
		{" , ", "", false},
		{"scim.read,admin", "", false},
	}
	for _, tc := range tests {
		got, err := ParseScopes(tc.in)
		if (err == nil) != tc.ok || FormatScopes(got) != tc.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestRunCLIExpiryDefault: a token made without --expires expires after
// DefaultExpiry, so a forgotten one stops working; --expires never makes
// one that does not, and a lifetime of zero is refused rather than read as
// "never".
func TestRunCLIExpiryDefault(t *testing.T) {
	ctx := context.Background()
	l, err := NewLocal(newMemStore(), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expiry := func(client string) time.Time {
		t.Helper()
		infos, err := l.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range infos {
			if i.Client == client {
				return i.Expires
			}
		}
		t.Fatalf("no token for %s", client)
		return time.Time{}
	}
	var out, errw bytes.Buffer
	if err := RunCLI(ctx, []string{"create", "--client", "entra", "--scopes", "scim.read"}, l, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(expiry("entra")); d < DefaultExpiry-time.Hour || d > DefaultExpiry {
		t.Errorf("a token created without --expires expires in %s, want %s", d, DefaultExpiry)
	}
	if !strings.Contains(errw.String(), "expires ") {
		t.Errorf("create does not say when the token expires: %q", errw.String())
	}
	errw.Reset()
	if err := RunCLI(ctx, []string{"create", "--client", "okta", "--scopes", "scim.read", "--expires", "never"}, l, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if e := expiry("okta"); !e.IsZero() {
		t.Errorf("--expires never made a token expiring at %s", e)
	}
	if !strings.Contains(errw.String(), "never expires") {
		t.Errorf("create does not say the token never expires: %q", errw.String())
	}
	for _, exp := range []string{"0", "0d", "0s", ""} {
		if err := RunCLI(ctx, []string{"create", "--client", "zero", "--scopes", "scim.read", "--expires", exp}, l, &out, &errw); !errors.Is(err, ErrUsage) {
			t.Errorf("--expires %q: err = %v, want a usage error", exp, err)
		}
	}
	errw.Reset()
	if err := RunCLI(ctx, []string{"create", "-h"}, l, &out, &errw); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("create -h: %v", err)
	}
	if help := errw.String(); !strings.Contains(help, "180d") || !strings.Contains(help, "never") {
		t.Errorf("the help does not give the default lifetime and never:\n%s", help)
	}
}

// TestRunCLIErrorMessages: a failed command's error says what is wrong once,
// without the package prefixes of the errors it wraps: the caller prints it
// after its own ("adfscim token: "), and the usage on stderr does not
// repeat it.
func TestRunCLIErrorMessages(t *testing.T) {
	ctx := context.Background()
	l, _ := NewLocal(newMemStore(), LocalOptions{})
	if _, err := l.Create(ctx, "entra", []Scope{ScimRead}, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--client", "x", "--scopes", "scim.root"}, `unknown scope "scim.root"`},
		{[]string{"create", "--client", "x", "--scopes", "scim.read", "--expires", "soon"}, `bad duration "soon"`},
		{[]string{"create", "--client", "x/y", "--scopes", "scim.read"}, `client name "x/y"`},
		{[]string{"create", "--scopes", "scim.read"}, "--client is required"},
		{[]string{"create", "--client", "x", "--scopes", "scim.read", "extra"}, `unexpected argument "extra"`},
		{[]string{"list", "--bogus"}, "-bogus"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{nil, "a command is required"},
		{[]string{"create", "--client", "entra", "--scopes", "scim.read"}, "entra has an active token"},
		{[]string{"revoke", "--client", "ghost"}, "ghost"},
	} {
		var out, errw bytes.Buffer
		err := RunCLI(ctx, tc.args, l, &out, &errw)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%v: error %q does not say %q", tc.args, msg, tc.want)
		}
		if strings.Contains(msg, "tokens:") || strings.Contains(msg, "invalid argument") || strings.Contains(msg, "usage") {
			t.Errorf("%v: error %q carries package prefixes", tc.args, msg)
		}
		if strings.Contains(errw.String(), tc.want) {
			t.Errorf("%v: stderr repeats the error:\n%s", tc.args, errw.String())
		}
	}
}

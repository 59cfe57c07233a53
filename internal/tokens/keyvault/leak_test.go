package keyvault

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/tokens"
)

// TestLogsCarryNoTokens runs a whole lifecycle (CLI create and rotate,
// refreshes, good and bad tokens, outage, fail closed, recovery, revoke)
// with debug logging and checks that no token value and no digest of one,
// in any common encoding, appears in the log or in the CLI's stderr.
func TestLogsCarryNoTokens(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := b.new(t, Options{Grace: time.Hour})
			var values []string
			var stderr bytes.Buffer
			run := func(args ...string) string {
				var out bytes.Buffer
				if err := tokens.RunCLI(ctx, args, e.src, &out, &stderr); err != nil {
					t.Fatalf("%v: %v", args, err)
				}
				return out.String()
			}
			v := strings.TrimSpace(run("token", "create", "--client", "entra", "--scopes", "scim.read,scim.write", "--expires", "90d"))
			values = append(values, v)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			expect(t, e, "created", v, "entra", nil)
			// A secret with a bad scopes tag is logged (by name) and skipped.
			bad, _ := tokens.NewToken()
			values = append(values, bad)
			e.vault.set("scim-client-bad", setParams(bad, map[string]string{TagClient: "bad", TagScopes: "root"}))
			e.clk.Advance(time.Minute)
			v2 := strings.TrimSpace(run("rotate", "--client", "entra", "--overlap", "1h"))
			values = append(values, v2)
			expect(t, e, "rotated", v2, "entra", nil)
			guess := "definitely-not-a-token-but-secret-looking"
			values = append(values, guess)
			e.clk.Advance(time.Minute)
			expect(t, e, "guess", guess, "", tokens.ErrUnknownToken)
			// The HTTP layer logs Authenticate's error text: it must be clean too.
			var errText strings.Builder
			for _, tok := range []string{guess, v, bad} {
				if _, err := e.src.Authenticate(ctx, tok); err != nil {
					errText.WriteString(err.Error() + "\n")
				}
			}
			e.vault.setDown(true)
			for range 3 {
				e.clk.Advance(30 * time.Minute)
				_ = e.src.Refresh(ctx)
				if _, err := e.src.Authenticate(ctx, v2); err != nil {
					errText.WriteString(err.Error() + "\n")
				}
			}
			e.vault.setDown(false)
			e.clk.Advance(time.Minute)
			if err := e.src.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			run("list")
			run("list", "--json")
			run("revoke", "--client", "entra")

			logs := e.logs.String() + stderr.String() + errText.String()
			if !strings.Contains(logs, "failed") || !strings.Contains(logs, "recovered") || !strings.Contains(logs, "scim-client-bad") ||
				!strings.Contains(logs, "unknown or expired token") || !strings.Contains(logs, "unavailable") {
				t.Fatalf("the scenario did not produce the expected log lines:\n%s", logs)
			}
			for _, v := range values {
				d := sha256.Sum256([]byte(v))
				for _, form := range []string{
					v,
					hex.EncodeToString(d[:]),
					strings.ToUpper(hex.EncodeToString(d[:])),
					base64.StdEncoding.EncodeToString(d[:]),
					base64.RawURLEncoding.EncodeToString(d[:]),
					hex.EncodeToString(d[:8]), // even a prefix is too much
				} {
					if strings.Contains(logs, form) {
						t.Fatalf("log output contains a token or its digest (%q):\n%s", form, logs)
					}
				}
			}
		})
	}
}

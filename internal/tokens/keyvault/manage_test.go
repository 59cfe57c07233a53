package keyvault

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/tokens"
)

// TestRotateReportsPartialFailure: when the old versions cannot be given
// their overlap expiry (here: the update is refused), the CLI still prints
// the new token, which exists, and fails so the operator knows.
func TestRotateReportsPartialFailure(t *testing.T) {
	e := newFakeEnv(t, Options{})
	old, _ := e.src.Create(ctx, "entra", []tokens.Scope{tokens.ScimWrite}, 0)
	e.vault.mu.Lock()
	e.vault.denyUpd = true
	e.vault.mu.Unlock()
	var out, errw bytes.Buffer
	err := tokens.RunCLI(ctx, []string{"rotate", "--client", "entra", "--overlap", "1h"}, e.src, &out, &errw)
	if err == nil {
		t.Fatal("rotate reported success although the old version keeps no expiry")
	}
	fresh := strings.TrimSpace(out.String())
	if len(fresh) != 43 {
		t.Fatalf("new token not printed: %q", out.String())
	}
	e.clk.Advance(2 * time.Hour)
	expect(t, e, "new token", fresh, "entra", nil)
	expect(t, e, "old token kept (update refused)", old, "entra", nil)
}

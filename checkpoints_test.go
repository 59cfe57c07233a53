package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/store"
)

// TestCheckpointsEndToEnd runs the flow of docs/compliance.md under the
// binary: serve writes a signed checkpoint at each ReconcileRbac run and
// at shutdown; `audit public-key` gives the key; `audit verify
// -checkpoints -public-key` passes on the untouched trail and, after the
// trail's tail is cut and its head rewritten (which plain verify cannot
// see), names the sequence numbers involved.
func TestCheckpointsEndToEnd(t *testing.T) {
	for _, e := range restoreEngines {
		t.Run(e.name, func(t *testing.T) {
			env := append(e.env(t), "SCIM_BEARER_TOKEN="+restoreToken)
			p := start(t, env...)
			base := strings.TrimSuffix(p.url, "/scim/v2")
			scimID(t, p, "POST", "/Users", `{"userName":"ann@contoso.com"}`, 201)
			status, body, err := request("POST", base+"/ReconcileRbac", restoreToken, `{"Data":{"timer":{"IsPastDue":false}}}`)
			if err != nil || status != 200 || !strings.Contains(string(body), "audit checkpoint 1 written") {
				t.Fatalf("timer: %d %s %v", status, body, err)
			}
			scimID(t, p, "POST", "/Users", `{"userName":"bob@contoso.com"}`, 201)
			sigtermAndWait(t, p) // the shutdown checkpoint is number 2

			dir := t.TempDir()
			pem := mustRunAdfscim(t, env, "", "audit", "public-key")
			if !strings.HasPrefix(pem, "-----BEGIN PUBLIC KEY-----") {
				t.Fatalf("audit public-key printed %q", pem)
			}
			pub := filepath.Join(dir, "pub.pem")
			if err := os.WriteFile(pub, []byte(pem), 0o600); err != nil {
				t.Fatal(err)
			}
			out := mustRunAdfscim(t, env, "", "audit", "verify", "-checkpoints", "-public-key", pub)
			if !strings.Contains(out, "checkpoints: 2 (1 to 2") {
				t.Fatalf("verify -checkpoints:\n%s", out)
			}

			if _, errs, code := runAdfscim(t, env, "", "audit", "verify", "-public-key", pub); code != audit.ExitError || !strings.Contains(errs, "-public-key needs -checkpoints") {
				t.Errorf("-public-key alone: exit %d, %s", code, errs)
			}

			last := cutTail(t, env)
			if out, errs, code := runAdfscim(t, env, "", "audit", "verify"); code != 0 {
				t.Fatalf("the cut was meant to pass a plain verify: exit %d\n%s%s", code, out, errs)
			}
			out, errs, code := runAdfscim(t, env, "", "audit", "verify", "-checkpoints", "-public-key", pub)
			want := fmt.Sprintf("seq %d: the trail ends at %d, before the anchored record %d", last, last-1, last)
			if code != audit.ExitBroken || !strings.Contains(out, want) {
				t.Fatalf("after the cut: exit %d, want %d and %q\n%s%s", code, audit.ExitBroken, want, out, errs)
			}
			// -json carries both parts.
			out, _, _ = runAdfscim(t, env, "", "audit", "verify", "-checkpoints", "-public-key", pub, "-json")
			var res struct {
				OK          bool
				Trail       audit.Result
				Checkpoints audit.CheckpointReport
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || res.OK || res.Trail.Break == nil || res.Checkpoints.Count != 2 {
				t.Errorf("-json: %v\n%s", err, out)
			}
		})
	}
}

// cutTail removes the trail's last record and points the day's head at
// the one before, as someone with write access to the store could; it
// returns the removed record's sequence number.
func cutTail(t *testing.T, env []string) uint64 {
	t.Helper()
	var cfg config.Config
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "ADFSCIM_DATA_DIR":
			cfg.DataDir = v
		case "TABLES_CONNECTION_STRING":
			cfg.TablesConnectionString = v
		}
	}
	ctx := context.Background()
	base, err := app.OpenEngine(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	st := base.Store
	heads, err := audit.Heads(ctx, st, "")
	if err != nil || len(heads) == 0 {
		t.Fatalf("heads: %v %v", heads, err)
	}
	h := heads[len(heads)-1]
	rk := func(seq uint64) string { return fmt.Sprintf("r%020d", seq) }
	prev, err := st.Get(ctx, audit.Table, h.Day, rk(h.Seq-1))
	if err != nil {
		t.Fatalf("the day holds fewer than two records: %v", err)
	}
	var row struct{ Hash string }
	if err := json.Unmarshal(prev.Data, &row); err != nil {
		t.Fatal(err)
	}
	he, err := st.Get(ctx, audit.Table, h.Day, "head")
	if err != nil {
		t.Fatal(err)
	}
	var head map[string]any
	if err := json.Unmarshal(he.Data, &head); err != nil {
		t.Fatal(err)
	}
	head["seq"], head["hash"] = h.Seq-1, row.Hash
	b, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Batch(ctx, audit.Table, []store.Op{
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: h.Day, RowKey: rk(h.Seq)}},
		{Kind: store.Replace, Entity: store.Entity{PartitionKey: h.Day, RowKey: "head", Data: b}},
	}); err != nil {
		t.Fatal(err)
	}
	return h.Seq
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/spawn"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/dump"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// A restore restores: `adfscim import --force` of a backup leaves exactly
// the backup, on both engines, whatever was written after it.

const restoreToken = "restore-test-token-0123456789abcdefghij"

const restoredGroupName = "adf-contributors"

// restoreEngines give the environment of a fresh, empty store.
var restoreEngines = []struct {
	name string
	env  func(t *testing.T) []string
}{
	{"bolt", func(t *testing.T) []string { return []string{"ADFSCIM_DATA_DIR=" + t.TempDir()} }},
	{"tables", func(t *testing.T) []string {
		return []string{"TABLES_CONNECTION_STRING=" + azuritetest.Start(t), "ADFSCIM_DATA_DIR=" + t.TempDir()}
	}},
}

// runAdfscim runs a command of the binary with env and stdin; it returns stdout,
// stderr and the exit code.
func runAdfscim(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustRunAdfscim runs a command that must succeed and returns its stdout.
func mustRunAdfscim(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	out, errs, code := runAdfscim(t, env, stdin, args...)
	if code != 0 {
		t.Fatalf("adfscim %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// sigtermAndWait ends a server with SIGTERM (it finishes and closes the store).
func sigtermAndWait(t *testing.T, p *process) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
}

// scimID sends a request that must answer want and returns the id in it.
func scimID(t *testing.T, p *process, method, path, body string, want int) string {
	t.Helper()
	status, b, err := request(method, p.url+path, restoreToken, body)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %s (%v), want %d", method, path, status, b, err, want)
	}
	var res struct{ ID string }
	if len(b) > 0 {
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.ID
}

// groupsNamed returns the ids of the groups the displayName filter finds.
func groupsNamed(t *testing.T, p *process, name string) []string {
	t.Helper()
	filter := url.QueryEscape(`displayName eq "` + name + `"`)
	status, b, err := request("GET", p.url+"/Groups?filter="+filter, restoreToken, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("filter groups: %d %s (%v)", status, b, err)
	}
	var list struct{ Resources []struct{ ID string } }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Resources {
		ids = append(ids, r.ID)
	}
	return ids
}

// backedUp is a store with a backup taken and writes made after it.
type backedUp struct {
	env         []string
	backup      string
	group, user string // in the backup
	laterUser   string // written after it
}

// backupThenWrite provisions a group and a user, takes a backup with
// `adfscim export`, then deletes the group, creates another of the same
// displayName and a second user (each write adds audit records).
func backupThenWrite(t *testing.T, env []string) backedUp {
	t.Helper()
	b := backedUp{env: append(env, "SCIM_BEARER_TOKEN="+restoreToken)}
	p := start(t, b.env...)
	b.user = scimID(t, p, "POST", "/Users", `{"userName":"alice@contoso.com","active":true}`, http.StatusCreated)
	b.group = scimID(t, p, "POST", "/Groups", `{"displayName":"`+restoredGroupName+`","members":[{"value":"`+b.user+`"}]}`, http.StatusCreated)
	sigtermAndWait(t, p)
	b.backup = mustRunAdfscim(t, b.env, "", "export")

	p = start(t, b.env...)
	scimID(t, p, "DELETE", "/Groups/"+b.group, "", http.StatusNoContent)
	scimID(t, p, "POST", "/Groups", `{"displayName":"`+restoredGroupName+`"}`, http.StatusCreated)
	b.laterUser = scimID(t, p, "POST", "/Users", `{"userName":"bob@contoso.com","active":true}`, http.StatusCreated)
	sigtermAndWait(t, p)
	if mustRunAdfscim(t, b.env, "", "export") == b.backup {
		t.Fatal("the writes after the backup changed nothing")
	}
	return b
}

// checkRestored: the export equals the backup byte for byte, the audit
// trail verifies, and the server starts and serves the backup's state.
func (b backedUp) checkRestored(t *testing.T) {
	t.Helper()
	if got := mustRunAdfscim(t, b.env, "", "export"); got != b.backup {
		t.Fatalf("export after the restore differs from the backup:\nnot in the backup:\n%s\nmissing:\n%s",
			linesNotIn(got, b.backup), linesNotIn(b.backup, got))
	}
	mustRunAdfscim(t, b.env, "", "audit", "verify")
	p := start(t, b.env...)
	if ids := groupsNamed(t, p, restoredGroupName); len(ids) != 1 || ids[0] != b.group {
		t.Errorf("displayName eq %q finds %v, want only the backup's group %s", restoredGroupName, ids, b.group)
	}
	scimID(t, p, "GET", "/Users/"+b.user, "", http.StatusOK)
	scimID(t, p, "GET", "/Users/"+b.laterUser, "", http.StatusNotFound)
	sigtermAndWait(t, p)
	mustRunAdfscim(t, b.env, "", "audit", "verify") // the server's start record chains on
}

// linesNotIn lists the lines of a that b lacks, each cut to 120 bytes.
func linesNotIn(a, b string) string {
	have := map[string]bool{}
	for _, l := range strings.Split(b, "\n") {
		have[l] = true
	}
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !have[l] {
			out = append(out, "  "+l[:min(len(l), 120)])
		}
	}
	return strings.Join(out, "\n")
}

// TestImportForceRestoresTheBackup: backup, further writes, `import` (which
// refuses, saying so once), `import --force`; then the store is the backup.
func TestImportForceRestoresTheBackup(t *testing.T) {
	for _, eng := range restoreEngines {
		t.Run(eng.name, func(t *testing.T) {
			b := backupThenWrite(t, eng.env(t))

			_, errs, code := runAdfscim(t, b.env, b.backup, "import")
			if code == 0 {
				t.Fatal("import into a store that holds data was not refused")
			}
			if strings.Count(errs, "--force") != 1 || strings.Contains(errs, "use Force") || strings.Count(errs, "dump:") > 1 {
				t.Errorf("refusal repeats itself or speaks of the API: %q", errs)
			}

			out := mustRunAdfscim(t, b.env, b.backup, "import", "--force")
			if !strings.Contains(out, "restored") {
				t.Errorf("import --force printed %q", out)
			}
			b.checkRestored(t)
		})
	}
}

// cutWritesAfter lets the first n write requests through and fails every later
// one before it is sent: an import that dies part-way.
type cutWritesAfter struct{ left atomic.Int64 }

func (c *cutWritesAfter) Do(req *policy.Request) (*http.Response, error) {
	if req.Raw().Method != http.MethodGet && c.left.Add(-1) < 0 {
		return nil, errors.New("injected: connection lost")
	}
	return req.Next()
}

// refusedStart runs `adfscim serve`, which must exit, with an error, without
// serving; it returns what it printed.
func refusedStart(t *testing.T, env []string) string {
	t.Helper()
	var logs syncBuffer
	srv, err := spawn.Start(context.Background(), spawn.Options{Binary: binary(t), Env: env, Stdout: &logs, Stderr: &logs})
	if err == nil {
		_ = srv.Kill()
		t.Fatalf("the server started on a half-restored store:\n%s", logs.String())
	}
	var exited *spawn.ExitError
	if !errors.As(err, &exited) || exited.Err == nil {
		t.Fatalf("serve on a half-restored store: %v, want it to exit with an error\n%s", err, logs.String())
	}
	return logs.String()
}

// TestInterruptedRestoreOnTableStorage: a forced import into Table Storage
// that dies part-way (the network cut after a few writes) leaves a store
// that the server and the other commands refuse, naming the backup by its
// SHA-256 and saying how to finish; re-running `import --force` finishes
// the restore.
func TestInterruptedRestoreOnTableStorage(t *testing.T) {
	conn := azuritetest.Start(t)
	b := backupThenWrite(t, []string{"TABLES_CONNECTION_STRING=" + conn})

	ctx := context.Background()
	cut := new(cutWritesAfter)
	cut.left.Store(5) // the marker (with its table's creation), then a delete or two
	st, err := tables.Open(ctx, tables.Options{ConnectionString: conn, PerCallPolicies: []policy.Policy{cut}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = dump.Import(ctx, st, strings.NewReader(b.backup), dump.Options{Force: true, Tables: deploy.Tables()})
	if !errors.Is(err, dump.ErrRestorePending) {
		t.Fatalf("the cut import: %v, want an interrupted restore", err)
	}
	sum := sha256.Sum256([]byte(b.backup))
	digest := "sha256:" + hex.EncodeToString(sum[:])

	said := refusedStart(t, b.env)
	for _, want := range []string{digest, "did not finish", "import --force"} {
		if !strings.Contains(said, want) {
			t.Errorf("the refused start does not say %q:\n%s", want, said)
		}
	}
	for _, args := range [][]string{{"export"}, {"audit", "verify"}, {"import"}} {
		if _, errs, code := runAdfscim(t, b.env, b.backup, args...); code == 0 || !strings.Contains(errs, digest) {
			t.Errorf("adfscim %s on a half-restored store: exit %d, %q", strings.Join(args, " "), code, errs)
		}
	}

	mustRunAdfscim(t, b.env, b.backup, "import", "--force")
	b.checkRestored(t)
}

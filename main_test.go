package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/buildtest"
	"github.com/adfscim/adfscim/internal/spawn"
)

// binary is the adfscim binary built from this module.
func binary(t *testing.T) string { return buildtest.Adfscim(t) }

// process is a running adfscim server and everything it logged.
type process struct {
	*spawn.Server
	url  string // SCIM base URL
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// start runs the binary with env (spawn.Start), capturing its logs, and
// kills it when the test ends.
func start(t *testing.T, env ...string) *process {
	t.Helper()
	p := &process{logs: &syncBuffer{}}
	srv, err := spawn.Start(context.Background(), spawn.Options{Binary: binary(t), Env: env, Stdout: p.logs, Stderr: p.logs})
	if err != nil {
		t.Fatalf("%v:\n%s", err, p.logs)
	}
	t.Cleanup(func() { _ = srv.Kill() })
	p.Server, p.url = srv, srv.URL
	return p
}

func request(method, url, token, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// TestKillMidWriteKeepsAcknowledgedWrites kills the server with SIGKILL in
// the middle of a stream of writes, restarts it on the same data directory,
// and checks that every write answered 2xx is there, complete, and that no
// half-written resource exists.
func TestKillMidWriteKeepsAcknowledgedWrites(t *testing.T) {
	const token = "kill-test-token-0123456789abcdefghij"
	dataDir := t.TempDir()
	env := []string{"ADFSCIM_DATA_DIR=" + dataDir, "SCIM_BEARER_TOKEN=" + token}
	p := start(t, env...)

	type ack struct{ id, userName string }
	var (
		mu    sync.Mutex
		acked []ack
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	const writers = 8
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("writer%d-user%d@contoso.com", w, i)
				status, body, err := request("POST", p.url+"/Users", token,
					`{"userName":"`+name+`","active":true,"name":{"givenName":"W","familyName":"U"},"emails":[{"value":"`+name+`","type":"work"}]}`)
				if err != nil {
					return // the server is gone
				}
				if status != http.StatusCreated {
					t.Errorf("POST %s: %d %s", name, status, body)
					return
				}
				var res struct{ ID string }
				if err := json.Unmarshal(body, &res); err != nil {
					t.Errorf("POST %s: %v", name, err)
					return
				}
				mu.Lock()
				acked = append(acked, ack{res.ID, name})
				mu.Unlock()
			}
		}(w)
	}
	// Let a good stream of writes through, then kill the process mid-stream.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 400 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	q := start(t, env...)
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acked {
		status, body, err := request("GET", q.url+"/Users/"+a.id, token, "")
		if err != nil || status != http.StatusOK {
			t.Fatalf("acknowledged user %s (%s) lost after SIGKILL: %d %s %v", a.userName, a.id, status, body, err)
		}
		var u struct{ UserName string }
		if err := json.Unmarshal(body, &u); err != nil || u.UserName != a.userName {
			t.Errorf("user %s came back as %s (%v)", a.id, body, err)
		}
	}
	// Every stored user is whole: its userName index finds it again.
	status, body, err := request("GET", q.url+"/Users?count=100000", token, "")
	if err != nil || status != 200 {
		t.Fatalf("list after restart: %d %v", status, err)
	}
	var list struct {
		TotalResults int
		Resources    []struct {
			ID, UserName string
			Emails       []map[string]any
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.TotalResults < len(acked) {
		t.Errorf("totalResults %d < %d acknowledged", list.TotalResults, len(acked))
	}
	for _, u := range list.Resources {
		if u.UserName == "" || len(u.Emails) != 1 {
			t.Errorf("half-written user %s: %+v", u.ID, u)
			continue
		}
		st, b, err := request("GET", q.url+"/Users?filter=userName+eq+%22"+u.UserName+"%22", token, "")
		if err != nil || st != 200 || !strings.Contains(string(b), u.ID) {
			t.Errorf("user %s is not found by its userName after restart: %d %s", u.ID, st, b)
		}
	}
	t.Logf("%d writes acknowledged before SIGKILL, %d users after restart", len(acked), list.TotalResults)

	// The trail survived the crash whole, and it records exactly the users
	// that exist: a user and its record committed together or not at all.
	if err := q.Kill(); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(binary(t), "audit", "verify")
	verify.Env = append(os.Environ(), env...)
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("audit verify after SIGKILL: %v\n%s", err, out)
	}
	export := exec.Command(binary(t), "audit", "export")
	export.Env = append(os.Environ(), env...)
	out, err := export.Output()
	if err != nil {
		t.Fatalf("audit export: %v", err)
	}
	recorded := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit export line %q: %v", line, err)
		}
		if r.Action == "user.create" && r.Outcome.Success {
			recorded[r.Target.ID]++
		}
	}
	for _, u := range list.Resources {
		if recorded[u.ID] != 1 {
			t.Errorf("user %s exists with %d creation records, want 1", u.ID, recorded[u.ID])
		}
		delete(recorded, u.ID)
	}
	for id := range recorded {
		t.Errorf("the trail records the creation of user %s, which does not exist", id)
	}
}

// TestLogsNeverCarrySecrets runs a whole local session — first start with a
// generated token, provisioning with passwords, failed logins with other
// tokens, a restart — and scans everything the process logged.
func TestLogsNeverCarrySecrets(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, "ADFSCIM_DATA_DIR="+dataDir, "SCIM_BEARER_TOKEN=", "ADFSCIM_LOG_LEVEL=debug")
	// The generated token is shown once, on stderr, in the banner.
	var token string
	for i := 0; i < 200 && token == ""; i++ {
		for _, line := range strings.Split(p.logs.String(), "\n") {
			if f := strings.Fields(line); len(f) == 1 && len(f[0]) == 43 {
				token = f[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if token == "" {
		t.Fatalf("no generated token in the output:\n%s", p.logs)
	}
	const password = "Sup3r-Secret-Passw0rd!"
	const wrongToken = "an-attacker-token-value-that-is-long-enough"
	status, body, err := request("POST", p.url+"/Users", token,
		`{"userName":"carol@contoso.com","password":"`+password+`","active":true}`)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST with the generated token: %d %s %v", status, body, err)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	request("PATCH", p.url+"/Users/"+u.ID, token,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"password","value":"`+password+`2"}]}`)
	request("PUT", p.url+"/Users/"+u.ID, token, `{"userName":"carol@contoso.com","password":"`+password+`3"}`)
	for i := 0; i < 3; i++ {
		if st, _, _ := request("GET", p.url+"/Users", wrongToken, ""); st != http.StatusUnauthorized {
			t.Errorf("a wrong token got %d", st)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// A second start shows no token again and still accepts the first.
	q := start(t, "ADFSCIM_DATA_DIR="+dataDir, "SCIM_BEARER_TOKEN=")
	if st, _, _ := request("GET", q.url+"/Users", token, ""); st != http.StatusOK {
		t.Errorf("the generated token stopped working after a restart: %d", st)
	}
	all := p.logs.String() + q.logs.String()
	if n := strings.Count(all, token); n != 1 {
		t.Errorf("the generated token appears %d times in the output; want once (the first banner)", n)
	}
	for _, secret := range []string{password, wrongToken} {
		if strings.Contains(all, secret) {
			t.Errorf("the output contains the secret %q:\n%s", secret, all)
		}
	}
	d := sha256.Sum256([]byte(token))
	for _, form := range []string{hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(d[:]), base64.RawURLEncoding.EncodeToString(d[:])} {
		if strings.Contains(all, form) || strings.Contains(all, form[:16]) {
			t.Errorf("the output contains the token's digest")
		}
	}
	if !strings.Contains(all, `"message":"authentication failed"`) {
		t.Errorf("failed logins were not logged at all")
	}
}

// TestExportImportCommands: what `adfscim export` writes, `adfscim import`
// reads into an empty store, which then exports the same bytes; a second
// import into the now non-empty store is refused without --force.
func TestExportImportCommands(t *testing.T) {
	const token = "cli-test-token-0123456789abcdefghijkl"
	src := t.TempDir()
	p := start(t, "ADFSCIM_DATA_DIR="+src, "SCIM_BEARER_TOKEN="+token)
	for _, name := range []string{"a@x.com", "b@x.com"} {
		if st, b, err := request("POST", p.url+"/Users", token, `{"userName":"`+name+`"}`); err != nil || st != 201 {
			t.Fatalf("POST: %d %s %v", st, b, err)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	run := func(dir, stdin string, args ...string) (string, error) {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), "ADFSCIM_DATA_DIR="+dir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		return string(out), err
	}
	dump, err := run(src, "", "export")
	if err != nil || strings.Count(dump, "\n") < 4 {
		t.Fatalf("export: %v\n%s", err, dump)
	}
	dst := t.TempDir()
	if out, err := run(dst, dump, "import"); err != nil || !strings.Contains(out, "imported") {
		t.Fatalf("import: %v %s", err, out)
	}
	again, err := run(dst, "", "export")
	if err != nil || again != dump {
		t.Errorf("export after import differs (%v)", err)
	}
	if _, err := run(dst, dump, "import"); err == nil {
		t.Errorf("a second import into a non-empty store was not refused")
	}
	if _, err := run(dst, dump, "import", "--force"); err != nil {
		t.Errorf("import --force: %v", err)
	}
}

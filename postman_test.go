package main

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// collectionDir holds Microsoft's SCIM Postman collection (MIT licence,
// from AzureAD/SCIMReferenceCode), copied into the repository with its
// licence beside it.
const collectionDir = "testdata/microsoft"

// allowedFailure is an assertion of Microsoft's collection that fails on
// purpose, with the reason it is wrong by RFC 7644 and no IdP depends on it.
type allowedFailure struct {
	Request   string `json:"request"`
	Assertion string `json:"assertion"`
	Reason    string `json:"reason"`
}

// needTool finds a test tool installed by npm ci. Outside CI a missing tool
// skips the test; in CI (CI=true) it fails it, so CI can never skip.
func needTool(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run must install it (npm ci)", path)
		}
		t.Skipf("%s is missing; run npm ci", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestMicrosoftPostmanCollection runs Microsoft's SCIM test collection with
// newman against a fresh server on an empty store. Every assertion must pass
// except those in testdata/postman_allowlist.json, and every allow-listed
// assertion must still fail (a stale entry is an error too).
func TestMicrosoftPostmanCollection(t *testing.T) {
	newman := needTool(t, "node_modules/.bin/newman")
	raw, err := os.ReadFile(filepath.Join(collectionDir, "scim-tests.postman_collection.json"))
	if err != nil {
		t.Fatal(err)
	}
	var collection map[string]any
	if err := json.Unmarshal(raw, &collection); err != nil {
		t.Fatal(err)
	}
	// Drop the "Get Token" folder: it calls a token endpoint a real provider
	// does not have and overwrites the token; the token comes from the
	// environment instead.
	var items []any
	for _, it := range collection["item"].([]any) {
		if it.(map[string]any)["name"] != "Get Token" {
			items = append(items, it)
		}
	}
	collection["item"] = items

	const token = "postman-collection-token-0123456789abc"
	p := start(t, "ADFSCIM_DATA_DIR="+t.TempDir(), "SCIM_BEARER_TOKEN="+token)
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]any{
		"name": "adfscim",
		"values": []map[string]any{
			{"key": "Protocol", "value": u.Scheme, "enabled": true},
			{"key": "Server", "value": u.Hostname(), "enabled": true},
			{"key": "Port", "value": ":" + u.Port(), "enabled": true},
			{"key": "Api", "value": strings.TrimPrefix(u.Path, "/"), "enabled": true},
			{"key": "token", "value": token, "enabled": true},
		},
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	collPath, envPath := write("collection.json", collection), write("env.json", env)
	report := filepath.Join(dir, "report.json")
	cmd := exec.Command(newman, "run", collPath, "-e", envPath, "--reporters", "cli,json",
		"--reporter-json-export", report, "--color", "off", "--disable-unicode")
	out, runErr := cmd.CombinedOutput()

	var rep struct {
		Run struct {
			Stats struct {
				Assertions struct{ Total, Failed int }
				Requests   struct{ Total, Failed int }
			}
			Failures []struct {
				Source struct{ Name string }
				Error  struct{ Test, Message string }
			}
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("newman wrote no report (%v):\n%s", runErr, out)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var allow []allowedFailure
	ab, err := os.ReadFile("testdata/postman_allowlist.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ab, &allow); err != nil {
		t.Fatalf("testdata/postman_allowlist.json: %v", err)
	}
	allowed := map[string]bool{}
	for _, a := range allow {
		if a.Reason == "" {
			t.Errorf("allow-list entry %q / %q has no reason", a.Request, a.Assertion)
		}
		allowed[a.Request+" / "+a.Assertion] = false
	}
	var unexpected []string
	for _, f := range rep.Run.Failures {
		key := f.Source.Name + " / " + f.Error.Test
		if _, ok := allowed[key]; ok {
			allowed[key] = true
			continue
		}
		unexpected = append(unexpected, key+": "+f.Error.Message)
	}
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Errorf("assertion failed: %s", u)
	}
	for key, failed := range allowed {
		if !failed {
			t.Errorf("allow-listed assertion %q passes now: remove it from testdata/postman_allowlist.json", key)
		}
	}
	if rep.Run.Stats.Requests.Failed > 0 {
		t.Errorf("%d requests failed outright", rep.Run.Stats.Requests.Failed)
	}
	if rep.Run.Stats.Assertions.Total < 100 {
		t.Errorf("only %d assertions ran; the collection has over 100", rep.Run.Stats.Assertions.Total)
	}
	t.Logf("newman: %d requests, %d assertions, %d failed (%d allow-listed)",
		rep.Run.Stats.Requests.Total, rep.Run.Stats.Assertions.Total, rep.Run.Stats.Assertions.Failed, len(allow))
	if t.Failed() {
		t.Logf("newman output:\n%s", out)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cleanEnv is the environment of a spawned binary: the test's, without any
// adfscim or Azure setting a developer's shell may carry.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ADFSCIM_") || strings.HasPrefix(k, "AZURE_") || strings.HasPrefix(k, "TABLES_") ||
			k == "KEYVAULT_URL" || k == "SCIM_BEARER_TOKEN" || k == "IDENTITY_ENDPOINT" || k == "IDENTITY_HEADER" || k == "MSI_ENDPOINT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runIn runs the binary in dir with env and returns its exit code, stdout
// and stderr.
func runIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestEveryCommandAnswersHelp: every command and subcommand the usage text
// lists answers -h and --help with its own flags and exit 0, without opening
// a store or creating ./.adfscim.
func TestEveryCommandAnswersHelp(t *testing.T) {
	var commands [][]string
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			commands = append(commands, []string{f[0]})
		}
	}
	for sub := range tokenCommands {
		commands = append(commands, []string{"token", sub})
	}
	for sub := range auditCommands {
		commands = append(commands, []string{"audit", sub})
	}
	if len(commands) < 15 {
		t.Fatalf("read only %d commands from the usage text", len(commands))
	}
	// What each help must show: its own flags, and -data-dir where a store
	// is opened.
	want := map[string][]string{
		"serve": {"-listen", "-data-dir", "-mapping", "-arm"}, "token": {"-data-dir", "token create"},
		"token create": {"--scopes", "-data-dir"}, "token rotate": {"--overlap", "-data-dir"},
		"token list": {"--json", "-data-dir"}, "token revoke": {"--client", "-data-dir"},
		"plan": {"-mapping", "-arm", "-allow-simulated-arm", "-data-dir"}, "reconcile": {"-mapping", "-data-dir"},
		"export": {"-data-dir"}, "import": {"-force", "-data-dir"}, "package": {"-out"},
		"audit": {"verify", "expire", "-data-dir"}, "audit verify": {"-anchor", "-from", "-checkpoints", "-public-key", "-data-dir"},
		"audit public-key": {"PEM"},
		"audit export":     {"-since", "-format", "-data-dir"}, "audit expire": {"-before", "-data-dir"},
		"report": {"-csv", "-html", "-data-dir"}, "load": {"-target"}, "help": {"commands:"},
	}
	for _, c := range commands {
		for _, h := range []string{"-h", "--help"} {
			name := strings.Join(c, " ")
			t.Run(name+" "+h, func(t *testing.T) {
				dir := t.TempDir()
				code, stdout, stderr := runIn(t, dir, cleanEnv(), append(c, h)...)
				if code != 0 {
					t.Errorf("exit %d\n%s%s", code, stdout, stderr)
				}
				for _, w := range want[name] {
					if !strings.Contains(stdout+stderr, w) {
						t.Errorf("the help does not mention %s:\n%s%s", w, stdout, stderr)
					}
				}
				if _, err := os.Stat(filepath.Join(dir, ".adfscim")); err == nil {
					t.Errorf("%s %s created ./.adfscim", name, h)
				}
			})
		}
	}
	code, _, stderr := runIn(t, t.TempDir(), cleanEnv(), "token", "nonsense")
	if code != 2 || !strings.Contains(stderr, "nonsense") {
		t.Errorf("token nonsense: exit %d, %s", code, stderr)
	}
}

// TestSettingsFlagsInAnyPosition: -data-dir works for every command that
// opens a store, for token and audit before or after the subcommand, and
// nothing is created in the working directory.
func TestSettingsFlagsInAnyPosition(t *testing.T) {
	mapping := `{"bindings":[{"group":"G","role":"Reader","factories":["/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"]}]}`
	tests := [][]string{
		{"token", "-data-dir", "{}", "list"},
		{"token", "list", "-data-dir", "{}"},
		{"token", "list", "--data-dir={}", "--json"},
		{"audit", "-data-dir", "{}", "verify"},
		{"audit", "verify", "-data-dir", "{}"},
		{"audit", "export", "--data-dir", "{}", "-format", "csv"},
		{"export", "-data-dir", "{}"},
		{"plan", "-data-dir", "{}", "-mapping", mapping},
		{"reconcile", "-mapping", mapping, "-data-dir", "{}"},
		{"report", "--csv", "-data-dir", "{}"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			work := t.TempDir()
			data := filepath.Join(t.TempDir(), "state")
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "{}", data)
			}
			code, stdout, stderr := runIn(t, work, cleanEnv(), args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(data, "adfscim.db")); err != nil {
				t.Errorf("no store in -data-dir: %v", err)
			}
			if _, err := os.Stat(filepath.Join(work, ".adfscim")); err == nil {
				t.Errorf("./.adfscim created despite -data-dir")
			}
		})
	}
}

// TestFirstLineNamesTheWorld: plan, reconcile and report say first, on
// stderr, which store and which ARM they act on; stdout stays the
// machine-readable output.
func TestFirstLineNamesTheWorld(t *testing.T) {
	mapping := `{"bindings":[{"group":"G","role":"Reader","factories":["/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"]}]}`
	for _, c := range []string{"plan", "reconcile", "report"} {
		data := t.TempDir()
		var stdout, stderr bytes.Buffer
		env := map[string]string{"ADFSCIM_DATA_DIR": data, "ADFSCIM_MAPPING": mapping}
		code := run(context.Background(), []string{c}, func(k string) string { return env[k] }, nil, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c, code, stderr.String())
		}
		first, _, _ := strings.Cut(stderr.String(), "\n")
		want := "adfscim " + c + ": store=embedded " + filepath.Join(data, "adfscim.db") + " arm=simulated (in the store)"
		if first != want {
			t.Errorf("%s: first line %q, want %q", c, first, want)
		}
		if !json.Valid(stdout.Bytes()) {
			t.Errorf("%s: stdout is not JSON: %s", c, stdout.String())
		}
	}
}

// TestTokenFirstLineNamesTheTrail: a token command says where the tokens
// live and which store's trail records the change, so that an operator who
// exported only KEYVAULT_URL sees the record would go to a local store.
func TestTokenFirstLineNamesTheTrail(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"local tokens", map[string]string{}, "adfscim token: tokens=store trail=embedded {}"},
		// Key Vault is never reached: list fails after the first line.
		{"key vault with the embedded store", map[string]string{"KEYVAULT_URL": "https://127.0.0.1:1/", "AZURE_CLIENT_ID": "", "IDENTITY_ENDPOINT": ""},
			"adfscim token: tokens=keyvault https://127.0.0.1:1/ trail=embedded {}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			tc.env["ADFSCIM_DATA_DIR"] = data
			var stdout, stderr bytes.Buffer
			run(context.Background(), []string{"token", "list"}, func(k string) string { return tc.env[k] }, nil, &stdout, &stderr)
			first, _, _ := strings.Cut(stderr.String(), "\n")
			want := strings.ReplaceAll(tc.want, "{}", filepath.Join(data, "adfscim.db"))
			if first != want {
				t.Errorf("first line %q, want %q", first, want)
			}
		})
	}
}

// TestServeFirstLogLineNamesTheWorld: serve's first log line carries the
// store and the ARM it acts on.
func TestServeFirstLogLineNamesTheWorld(t *testing.T) {
	data := t.TempDir()
	p := start(t, "ADFSCIM_DATA_DIR="+data, "SCIM_BEARER_TOKEN=world-test-token-0123456789abcdefghij", "ADFSCIM_ARM=", "TABLES_ENDPOINT=", "TABLES_CONNECTION_STRING=")
	first, _, _ := strings.Cut(p.logs.String(), "\n")
	var line struct{ Message, Store, ARM string }
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("first line %q: %v", first, err)
	}
	if line.Store != "embedded "+filepath.Join(data, "adfscim.db") || line.ARM != "simulated (in the store)" {
		t.Errorf("first log line %s: want store and arm", first)
	}
}

// TestNoCommandActsOnTheWrongWorld: with Table Storage in Azure configured,
// asking for the simulated ARM is refused (before anything is opened) unless
// -allow-simulated-arm is given.
func TestNoCommandActsOnTheWrongWorld(t *testing.T) {
	for _, c := range []string{"plan", "reconcile", "report", "serve"} {
		env := map[string]string{
			"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net", "ADFSCIM_ARM": "simulated",
			"ADFSCIM_MAPPING": `{"bindings":[]}`,
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{c}, func(k string) string { return env[k] }, nil, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "-allow-simulated-arm") {
			t.Errorf("%s with ADFSCIM_ARM=simulated on Azure tables: exit %d, %s", c, code, stderr.String())
		}
	}
}

// TestPlanNeedsAMapping: plan and reconcile without any mapping say so
// instead of printing an empty plan, and open nothing.
func TestPlanNeedsAMapping(t *testing.T) {
	for _, c := range []string{"plan", "reconcile"} {
		data := filepath.Join(t.TempDir(), "state")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{c, "-data-dir", data}, func(string) string { return "" }, nil, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "no mapping") || stdout.Len() != 0 {
			t.Errorf("%s without a mapping: exit %d, stdout %q, stderr %q", c, code, stdout.String(), stderr.String())
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("%s without a mapping opened the store", c)
		}
	}
}

// TestMappingFlagWinsAndRoleNames: -mapping replaces ADFSCIM_MAPPING (the
// README's rule: flags win), and the mapping accepts the role names that
// deploy.md and Bicep use, PipelineOperator included.
func TestMappingFlagWinsAndRoleNames(t *testing.T) {
	const factory = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"
	good := `{"bindings":[{"group":"Ops","role":"PipelineOperator","factories":["` + factory + `"]},{"group":"Devs","role":"DataFactoryContributor","factories":["` + factory + `"]},{"group":"All","role":"Reader","factories":["` + factory + `"]}]}`
	file := filepath.Join(t.TempDir(), "mapping.json")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(good, "Reader", "Owner")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ADFSCIM_DATA_DIR": t.TempDir(), "ADFSCIM_MAPPING": good}
	getenv := func(k string) string { return env[k] }
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"plan"}, getenv, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("plan with PipelineOperator, DataFactoryContributor and Reader: exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	code := run(context.Background(), []string{"plan", "-mapping", file}, getenv, nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), `unknown role "Owner"`) {
		t.Errorf("-mapping with a bad file was not the mapping used (ADFSCIM_MAPPING won): exit %d, %s", code, stderr.String())
	}
	for _, name := range []string{"DataFactoryContributor", "Reader", "PipelineOperator", "a role definition GUID or resource id"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("the unknown-role error does not list %s: %s", name, stderr.String())
		}
	}
}

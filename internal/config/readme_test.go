package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/config"
)

// TestREADMEDocumentsEverySetting keeps the README's configuration table in
// step with the settings the service reads.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range config.Settings() {
		row := "| `" + s.Name + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no configuration row for %s", s.Name)
			continue
		}
		if s.Default != "" && !strings.Contains(readme, row+" `"+s.Default+"` |") {
			t.Errorf("README.md does not give %s its default %q", s.Name, s.Default)
		}
	}
}

// TestLoadReadsEverySetting: each documented setting changes the loaded
// configuration when set (none is listed but ignored).
func TestLoadReadsEverySetting(t *testing.T) {
	base, err := config.Load(nil, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "7123", "ADFSCIM_TOKEN_GRACE": "2h", "ADFSCIM_TOKEN_REFRESH": "1m",
		"ADFSCIM_AUDIT_RETENTION_DAYS": "30", "ADFSCIM_REVOKE_TARGET": "30m", "ADFSCIM_LOG_LEVEL": "debug", "ADFSCIM_LISTEN": "127.0.0.1:9999",
		"ADFSCIM_PPROF_LISTEN": "127.0.0.1:6060", "ADFSCIM_ARM": "azure",
		"ADFSCIM_OPERATOR_ROLE_ID": "5a0c3f5e-6b0b-5f4e-9d57-2d2a8f0e1c11", "ADFSCIM_ASSIGNMENT_BUDGET": "0.5",
	}
	for _, s := range config.Settings() {
		if s.Name == "APPLICATIONINSIGHTS_CONNECTION_STRING" {
			continue // read by the Functions host, which sends its telemetry there
		}
		v, ok := values[s.Name]
		if !ok {
			v = "https://example.test/" + strings.ToLower(s.Name)
		}
		got, err := config.Load(nil, func(name string) string {
			if name == s.Name {
				return v
			}
			return ""
		}, nil)
		if err != nil {
			t.Errorf("%s=%q: %v", s.Name, v, err)
			continue
		}
		if got == base {
			t.Errorf("setting %s=%q changed nothing in the configuration", s.Name, v)
		}
	}
}

package deploy

import (
	"encoding/json"
	"github.com/adfscim/adfscim/internal/config"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestSettingsList(t *testing.T) {
	seen := make(map[string]bool)
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	for _, s := range config.Settings() {
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		if !name.MatchString(s.Name) {
			t.Errorf("%q is not an upper-case environment variable name", s.Name)
		}
		if s.Description == "" {
			t.Errorf("%s has no description", s.Name)
		}
		switch s.Where {
		case config.Local, config.Azure, config.Both, config.Host:
		default:
			t.Errorf("%s: Where = %q", s.Name, s.Where)
		}
	}
	s := config.Settings()
	s[0].Name = "CHANGED"
	if config.Settings()[0].Name == "CHANGED" {
		t.Error("Settings returns a shared slice")
	}
}

// hostLocalSettings are read by Azure Functions Core Tools, not the service.
var hostLocalSettings = map[string]bool{"FUNCTIONS_WORKER_RUNTIME": true, "AzureWebJobsStorage": true}

// TestLocalSettingsSample checks that local.settings.sample.json describes
// every setting as config.Settings() does, gives a value for every one a person may
// set (not those the Functions host sets), and has nothing the service does
// not read.
func TestLocalSettingsSample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values       map[string]string `json:"Values"`
		Descriptions map[string]string `json:"Descriptions"`
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	known := make(map[string]bool)
	for _, s := range config.Settings() {
		known[s.Name] = true
		t.Run(s.Name, func(t *testing.T) {
			_, ok := sample.Values[s.Name]
			if s.Where == config.Host && ok {
				t.Errorf("in Values, but the Functions host sets it")
			}
			if s.Where != config.Host && !ok {
				t.Errorf("not in Values")
			}
			if got := sample.Descriptions[s.Name]; got != s.Description {
				t.Errorf("description %q, want %q (from settings.go)", got, s.Description)
			}
		})
	}
	for k := range sample.Values {
		if !known[k] && !hostLocalSettings[k] {
			t.Errorf("Values has %s, which the service does not read", k)
		}
		if _, ok := sample.Descriptions[k]; !ok {
			t.Errorf("%s has no description", k)
		}
	}
	if v := sample.Values["ADFSCIM_MAPPING"]; v != "" && !json.Valid([]byte(v)) {
		t.Errorf("ADFSCIM_MAPPING sample is not JSON: %s", v)
	}
}

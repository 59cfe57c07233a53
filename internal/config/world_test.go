package config_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/config"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// TestARMFollowsTheStore: the simulated ARM is the default only on the
// embedded store (and Azurite); on Table Storage in Azure the default is
// Azure, and asking for the simulated ARM there is refused unless
// -allow-simulated-arm is given.
func TestARMFollowsTheStore(t *testing.T) {
	const azure = "DefaultEndpointsProtocol=https;AccountName=stcontoso;AccountKey=a2V5;EndpointSuffix=core.windows.net"
	const azurite = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantARM string
		wantErr string
	}{
		{"embedded", nil, nil, "simulated", ""},
		{"embedded, azure asked", map[string]string{"ADFSCIM_ARM": "azure"}, nil, "azure", ""},
		{"azurite", map[string]string{"TABLES_CONNECTION_STRING": azurite}, nil, "simulated", ""},
		{"development storage", map[string]string{"TABLES_CONNECTION_STRING": "UseDevelopmentStorage=true"}, nil, "simulated", ""},
		{"endpoint", map[string]string{"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net"}, nil, "azure", ""},
		{"azure connection string", map[string]string{"TABLES_CONNECTION_STRING": azure}, nil, "azure", ""},
		{"endpoint, simulated by setting", map[string]string{"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net", "ADFSCIM_ARM": "simulated"}, nil, "", "-allow-simulated-arm"},
		{"endpoint, simulated by flag", map[string]string{"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net"}, []string{"-arm", "simulated"}, "", "-allow-simulated-arm"},
		{"azure connection string, simulated", map[string]string{"TABLES_CONNECTION_STRING": azure, "ADFSCIM_ARM": "simulated"}, nil, "", "-allow-simulated-arm"},
		{"endpoint, simulated on purpose", map[string]string{"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net"}, []string{"-arm=simulated", "-allow-simulated-arm"}, "simulated", ""},
		{"flag wins over setting", map[string]string{"ADFSCIM_ARM": "simulated"}, []string{"-arm", "azure"}, "azure", ""},
		{"nonsense", map[string]string{"ADFSCIM_ARM": "moon"}, nil, "", "must be azure or simulated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.args, envOf(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ARM != tt.wantARM {
				t.Errorf("ARM = %q, want %q", c.ARM, tt.wantARM)
			}
		})
	}
}

// TestSimulatedARMRefusalOnlyWhereARMIsUsed: a command that never reaches
// ARM (export, token, audit) is not refused for ADFSCIM_ARM=simulated.
func TestSimulatedARMRefusalOnlyWhereARMIsUsed(t *testing.T) {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	f := config.AddFlags(fs, config.StoreFlags)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"TABLES_ENDPOINT": "https://stcontoso.table.core.windows.net", "ADFSCIM_ARM": "simulated"})
	if _, err := f.Load(env); err != nil {
		t.Errorf("export refused: %v", err)
	}
}

// TestMappingFlagWins: -mapping replaces the mapping whatever the
// environment says (README: flags override settings), both a file name and
// inline JSON.
func TestMappingFlagWins(t *testing.T) {
	env := envOf(map[string]string{"ADFSCIM_MAPPING": `{"bindings":[]}`, "ADFSCIM_MAPPING_FILE": "/etc/env.json"})
	c, err := config.Load([]string{"-mapping", "mine.json"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mapping != "" || c.MappingFile != "mine.json" {
		t.Errorf("-mapping mine.json with ADFSCIM_MAPPING set: Mapping=%q MappingFile=%q", c.Mapping, c.MappingFile)
	}
	c, err = config.Load([]string{"-mapping", `{"bindings":[{"x":1}]}`}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mapping != `{"bindings":[{"x":1}]}` || c.MappingFile != "" {
		t.Errorf("inline -mapping: Mapping=%q MappingFile=%q", c.Mapping, c.MappingFile)
	}
	c, err = config.Load(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mapping != `{"bindings":[]}` || c.MappingFile != "/etc/env.json" {
		t.Errorf("without -mapping the environment is kept: Mapping=%q MappingFile=%q", c.Mapping, c.MappingFile)
	}
}

// TestStoreNameHidesTheKey: the store's name, printed on every run, never
// carries a connection string's key.
func TestStoreNameHidesTheKey(t *testing.T) {
	c, err := config.Load(nil, envOf(map[string]string{"TABLES_CONNECTION_STRING": "AccountName=devstoreaccount1;AccountKey=c2VjcmV0a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	name := c.StoreName()
	if strings.Contains(name, "c2VjcmV0a2V5") || !strings.Contains(name, "devstoreaccount1") {
		t.Errorf("StoreName() = %q", name)
	}
}

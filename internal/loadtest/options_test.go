package loadtest

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestOptionsRefuseAnythingButLoopback(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"loopback target", Options{Target: "http://127.0.0.1:7071/scim/v2", Token: "t"}, true},
		{"spawn", Options{Spawn: "/bin/adfscim"}, true},
		{"remote target", Options{Target: "http://example.com/scim/v2", Token: "t"}, false},
		{"localhost name", Options{Target: "http://localhost:7071/scim/v2", Token: "t"}, false},
		{"other loopback address", Options{Target: "http://127.0.0.2:7071/scim/v2", Token: "t"}, false},
		{"https target", Options{Target: "https://127.0.0.1:7071/scim/v2", Token: "t"}, false},
		{"target without token", Options{Target: "http://127.0.0.1:7071/scim/v2"}, false},
		{"both target and spawn", Options{Target: "http://127.0.0.1:1/scim/v2", Spawn: "x", Token: "t"}, false},
		{"neither", Options{}, false},
		{"remote pprof", Options{Spawn: "x", PprofURL: "http://10.0.0.1:6060/debug/pprof", ProfileDir: "/tmp"}, false},
		{"unknown phase", Options{Spawn: "x", Phases: []string{"users", "delete"}}, false},
		{"unknown trivial placement", Options{Spawn: "x", Trivial: "remote"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.setDefaults()
			err := tc.o.validate()
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrOptions) {
				t.Errorf("got %v, want ErrOptions", err)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"SCIM_BEARER_TOKEN": "from-env"}
	tests := []struct {
		name string
		args []string
		want func(Options) bool
	}{
		{"defaults from the issue", []string{"-spawn", "x"}, func(o Options) bool {
			return o.Users == 100000 && o.Groups == 1000 && o.Members == 100 && o.Connections == 16 &&
				o.Token == "from-env" && slices.Equal(o.Phases, AllPhases) && o.Trivial == TrivialProcess
		}},
		{"phases alone", []string{"-target", "http://127.0.0.1:1/scim/v2", "-phases", "filter, patch"}, func(o Options) bool {
			return slices.Equal(o.Phases, []string{PhaseFilter, PhasePatch})
		}},
		{"server environment", []string{"-spawn", "x", "-spawn-env", "A=1", "-spawn-env", "ADFSCIM_LOG_LEVEL=warn"}, func(o Options) bool {
			return slices.Equal(o.SpawnEnv, []string{"A=1", "ADFSCIM_LOG_LEVEL=warn"})
		}},
		{"sizes and duration", []string{"-spawn", "x", "-users", "300", "-groups", "5", "-members", "20", "-duration", "500ms", "-token", "flag"}, func(o Options) bool {
			return o.Users == 300 && o.Groups == 5 && o.Members == 20 && o.Duration == 500*time.Millisecond && o.Token == "flag"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseFlags(tc.args, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(o) {
				t.Errorf("got %+v", o)
			}
		})
	}
	if _, err := ParseFlags([]string{"-spawn", "x", "extra"}, func(string) string { return "" }, io.Discard); !errors.Is(err, ErrOptions) {
		t.Errorf("stray argument: got %v, want ErrOptions", err)
	}
}

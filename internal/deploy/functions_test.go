package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type binding struct {
	Type      string   `json:"type"`
	Direction string   `json:"direction"`
	Name      string   `json:"name"`
	AuthLevel string   `json:"authLevel"`
	Methods   []string `json:"methods"`
	Route     string   `json:"route"`
	Schedule  string   `json:"schedule"`
}

func readBindings(t *testing.T, path string) []binding {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fj struct {
		Bindings []binding `json:"bindings"`
	}
	if err := json.Unmarshal(b, &fj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fj.Bindings
}

// TestFunctionJSONMatchesFunctions checks that functions/ holds exactly the
// functions in Functions(), each declared the way the custom handler needs:
// an anonymous httpTrigger plus one http output (so the host forwards the
// original request), or a timer with the listed binding and schedule.
func TestFunctionJSONMatchesFunctions(t *testing.T) {
	root := repoRoot(t)
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs, names []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, f := range Functions() {
		names = append(names, f.Name)
	}
	slices.Sort(dirs)
	slices.Sort(names)
	if !slices.Equal(dirs, names) {
		t.Fatalf("functions/ holds %v, Functions() lists %v", dirs, names)
	}

	for _, f := range Functions() {
		t.Run(f.Name, func(t *testing.T) {
			bs := readBindings(t, filepath.Join(root, "functions", f.Name, "function.json"))
			switch f.Trigger {
			case HTTP:
				if len(bs) != 2 {
					t.Fatalf("%d bindings, want exactly httpTrigger in and http out (or the host stops forwarding)", len(bs))
				}
				in, out := bs[0], bs[1]
				if in.Type != "httpTrigger" || in.Direction != "in" {
					t.Errorf("first binding %s/%s, want httpTrigger/in", in.Type, in.Direction)
				}
				if in.Name != f.Binding {
					t.Errorf("trigger binding name %q, want %q", in.Name, f.Binding)
				}
				if in.AuthLevel != "anonymous" {
					t.Errorf("authLevel %q, want anonymous (the bearer token is checked by the service)", in.AuthLevel)
				}
				if in.Route != f.Route {
					t.Errorf("route %q, want %q", in.Route, f.Route)
				}
				if !slices.Equal(in.Methods, f.Methods) {
					t.Errorf("methods %v, want %v", in.Methods, f.Methods)
				}
				if out.Type != "http" || out.Direction != "out" {
					t.Errorf("second binding %s/%s, want http/out", out.Type, out.Direction)
				}
			case Timer:
				if len(bs) != 1 {
					t.Fatalf("%d bindings, want one timerTrigger", len(bs))
				}
				if b := bs[0]; b.Type != "timerTrigger" || b.Direction != "in" || b.Name != f.Binding || b.Schedule != f.Schedule {
					t.Errorf("binding %+v, want timerTrigger in %q schedule %q", b, f.Binding, f.Schedule)
				}
			default:
				t.Fatalf("unknown trigger %q", f.Trigger)
			}
		})
	}
}

// TestHostJSON checks the host settings the custom handler relies on.
func TestHostJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkHostJSON(b); err != nil {
		t.Error(err)
	}
	var h struct {
		Extensions struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if p := h.Extensions.HTTP.RoutePrefix; p == nil || *p != "" {
		t.Errorf("extensions.http.routePrefix = %v, want \"\" so /scim/v2 arrives unchanged", p)
	}
}

func TestForwardingFunction(t *testing.T) {
	tests := []struct {
		method, path string
		want         string // function name, "" when not forwarded
	}{
		{"GET", "/scim/v2/Users", "ScimApi"},
		{"GET", "/scim/v2", "ScimApi"},
		{"PATCH", "/scim/v2/Groups/abc", "ScimApi"},
		{"delete", "/scim/v2/Users/abc", "ScimApi"},
		{"GET", "/scim/v2/ServiceProviderConfig", "ScimApi"},
		{"GET", "/SCIM/V2/Users", "ScimApi"},
		{"GET", "/scim/v", ""},
		{"POST", "/ops/v1/reconcile", "OpsApi"},
		{"GET", "/ops/v1/health", "OpsApi"},
		{"DELETE", "/ops/v1/tokens/x", ""},
		{"GET", "/scim/v2x/Users", ""},
		{"GET", "/scim/Users", ""},
		{"HEAD", "/scim/v2/Users", ""},
		{"POST", "/ReconcileRbac", ""},
		{"GET", "/admin/host/status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			f, ok := ForwardingFunction(tt.method, tt.path)
			if got := f.Name; got != tt.want || ok != (tt.want != "") {
				t.Errorf("ForwardingFunction = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		name             string
		prefix, invocate string
	}{
		{"ScimApi", "/scim/v2", ""},
		{"OpsApi", "/ops/v1", ""},
		{"ReconcileRbac", "", "/ReconcileRbac"},
	}
	byName := make(map[string]Function)
	for _, f := range Functions() {
		byName[f.Name] = f
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := byName[tt.name]
			if !ok {
				t.Fatalf("no function %s", tt.name)
			}
			if got := f.Prefix(); got != tt.prefix {
				t.Errorf("Prefix = %q, want %q", got, tt.prefix)
			}
			if got := f.InvocationPath(); got != tt.invocate {
				t.Errorf("InvocationPath = %q, want %q", got, tt.invocate)
			}
		})
	}
}

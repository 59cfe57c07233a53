package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodeWithBicep returns the node binary when node and the pinned
// tree-sitter-bicep are installed (npm ci). Without them the test is skipped
// locally, and fails when CI=true: CI must run the syntax check.
func nodeWithBicep(t *testing.T, root string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "node_modules", "tree-sitter-bicep", "package.json"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and tree-sitter-bicep are required in CI (run npm ci): %v", err)
		}
		t.Skipf("node or tree-sitter-bicep missing (run npm ci --no-audit --no-fund): %v", err)
	}
	return node
}

// TestBicepSyntax runs .ci/bicep-check.js on infra/ and on files with known
// mistakes, to show it passes the templates and catches errors with their
// position.
func TestBicepSyntax(t *testing.T) {
	root := repoRoot(t)
	node := nodeWithBicep(t, root)
	bad := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		target   string
		wantExit int
		wantOut  []string
	}{
		{"templates", filepath.Join(root, "infra"), 0, []string{"0 with errors"}},
		{"unclosed object", write("open.bicep", "param a string\nvar b = {\n  c: a\n"), 1, []string{"open.bicep:3:7: missing }"}},
		{"missing value", write("value.bicep", "var b = {\n  c: \n}\n"), 1, []string{"value.bicep:2:5: missing identifier"}},
		{"bad parameter file", write("p.bicepparam", "using 'main.bicep'\nparam a = \n"), 1, []string{"p.bicepparam:2:"}},
		{"good parameter file", write("ok.bicepparam", "using 'main.bicep'\n\nparam a = [\n  'x'\n]\n"), 0, []string{"0 with errors"}},
		{"nothing to check", t.TempDir(), 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(node, filepath.Join(root, ".ci", "bicep-check.js"), tt.target)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantExit {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.wantExit, out)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

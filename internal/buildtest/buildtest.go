// Package buildtest builds the adfscim binary for tests that run it as a
// process (the root package's end-to-end tests, the load harness's): one
// way to build it, once per test process.
package buildtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// built is the binary of this test process, built on first use.
var built struct {
	sync.Once
	path string
	err  error
}

// Adfscim returns the path of the adfscim binary built from the module the
// test runs in (its main package at the module root), building it on the
// first call. Remove deletes it.
func Adfscim(t testing.TB) string {
	t.Helper()
	built.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		root := filepath.Dir(strings.TrimSpace(string(out)))
		if err != nil || root == "." {
			built.err = fmt.Errorf("the module root: go env GOMOD: %q %v", out, err)
			return
		}
		dir, err := os.MkdirTemp("", "adfscim-bin")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "adfscim")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

// Remove deletes the binary, if one was built: call it from TestMain after
// m.Run.
func Remove() {
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
}

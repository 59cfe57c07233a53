package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ZipName is the file name Package writes in Options.OutDir.
const ZipName = "adfscim.zip"

// Options configure Package.
type Options struct {
	// RepoRoot is the module root: it holds go.mod, host.json and functions/.
	RepoRoot string
	// OutDir receives the zip (created if missing). The binary is built in
	// a temporary directory and only lands inside the zip.
	OutDir string
	// MainPackage is the package to build, relative to RepoRoot; "." (the
	// adfscim command) when empty.
	MainPackage string
	// GoCmd is the go command to run; "go" (from PATH) when empty.
	GoCmd string
}

// ErrLayout reports a repository whose host.json or functions/ would give a
// package the Functions host cannot run.
var ErrLayout = errors.New("deploy: invalid package layout")

// zipTime is the modification time of every zip entry, fixed so that the
// same inputs give the same archive.
func zipTime() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// Package cross-compiles the service for Linux amd64 and writes the flat zip
// Azure Functions deploys: host.json, the binary (mode 0755) and
// <Name>/function.json for each functions/<Name>/function.json. It returns
// the path of the zip. host.json must name BinaryName as its executable, and
// every function folder must hold a function.json; otherwise Package returns
// an error wrapping ErrLayout before it builds anything.
func Package(ctx context.Context, opts Options) (string, error) {
	if opts.RepoRoot == "" || opts.OutDir == "" {
		return "", errors.New("deploy: Options.RepoRoot and Options.OutDir are required")
	}
	host, err := os.ReadFile(filepath.Join(opts.RepoRoot, "host.json"))
	if err != nil {
		return "", fmt.Errorf("deploy: read host.json: %w", err)
	}
	if err := checkHostJSON(host); err != nil {
		return "", err
	}
	funcs, err := readFunctionFiles(opts.RepoRoot)
	if err != nil {
		return "", err
	}

	tmp, err := os.MkdirTemp("", "adfscim-package-")
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, BinaryName)
	if err := build(ctx, opts, bin); err != nil {
		return "", err
	}

	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	out := filepath.Join(opts.OutDir, ZipName)
	part, err := os.CreateTemp(opts.OutDir, ZipName+".*.part")
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	defer os.Remove(part.Name()) // no-op once renamed
	if err := writeZip(part, host, bin, funcs); err != nil {
		part.Close()
		return "", err
	}
	if err := part.Close(); err != nil {
		return "", fmt.Errorf("deploy: write zip: %w", err)
	}
	if err := os.Rename(part.Name(), out); err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	return out, nil
}

// checkHostJSON verifies the settings the custom handler cannot run without.
func checkHostJSON(b []byte) error {
	var h struct {
		Version       string `json:"version"`
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("%w: host.json: %v", ErrLayout, err)
	}
	switch {
	case h.Version != "2.0":
		return fmt.Errorf("%w: host.json version %q, want \"2.0\"", ErrLayout, h.Version)
	case h.CustomHandler.Description.DefaultExecutablePath != BinaryName:
		return fmt.Errorf("%w: host.json defaultExecutablePath %q, want %q",
			ErrLayout, h.CustomHandler.Description.DefaultExecutablePath, BinaryName)
	case !h.CustomHandler.EnableForwardingHTTPRequest:
		return fmt.Errorf("%w: host.json must set customHandler.enableForwardingHttpRequest", ErrLayout)
	}
	return nil
}

// readFunctionFiles returns functions/<Name>/function.json contents by name.
func readFunctionFiles(root string) (map[string][]byte, error) {
	dir := filepath.Join(root, "functions")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("deploy: read functions: %w", err)
	}
	funcs := make(map[string][]byte)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "function.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: functions/%s has no function.json", ErrLayout, e.Name())
		}
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%w: functions/%s/function.json is not valid JSON", ErrLayout, e.Name())
		}
		funcs[e.Name()] = b
	}
	if len(funcs) == 0 {
		return nil, fmt.Errorf("%w: no function under functions/", ErrLayout)
	}
	return funcs, nil
}

// build cross-compiles the main package to bin.
func build(ctx context.Context, opts Options, bin string) error {
	goCmd := opts.GoCmd
	if goCmd == "" {
		goCmd = "go"
	}
	pkg := opts.MainPackage
	if pkg == "" {
		pkg = "."
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s", "-o", bin, pkg)
	cmd.Dir = opts.RepoRoot
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy: go build %s: %w\n%s", pkg, err, out.Bytes())
	}
	return nil
}

// writeZip writes the flat package to w in a fixed order.
func writeZip(w io.Writer, host []byte, bin string, funcs map[string][]byte) error {
	zw := zip.NewWriter(w)
	add := func(name string, mode fs.FileMode, r io.Reader) error {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: zipTime()}
		h.SetMode(mode) // also marks the entry as made on Unix, so the host keeps the mode
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("deploy: zip %s: %w", name, err)
		}
		if _, err := io.Copy(fw, r); err != nil {
			return fmt.Errorf("deploy: zip %s: %w", name, err)
		}
		return nil
	}
	if err := add("host.json", 0o644, bytes.NewReader(host)); err != nil {
		return err
	}
	f, err := os.Open(bin)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer f.Close()
	if err := add(BinaryName, 0o755, f); err != nil {
		return err
	}
	names := make([]string, 0, len(funcs))
	for n := range funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add(n+"/function.json", 0o644, bytes.NewReader(funcs[n])); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("deploy: zip: %w", err)
	}
	return nil
}

// ModulePath is the module whose root Package builds from.
const ModulePath = "github.com/adfscim/adfscim"

// ErrNoRepoRoot reports that no enclosing directory holds the adfscim
// module's go.mod.
var ErrNoRepoRoot = errors.New("deploy: not inside the adfscim repository")

// FindRepoRoot returns the nearest directory at or above dir whose go.mod
// declares ModulePath, so `adfscim package` works from any directory of a
// clone.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("deploy: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(b) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRepoRoot
		}
		dir = parent
	}
}

// modulePath returns the path on go.mod's module line.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s: %v", root, err)
	}
	return root
}

func readZipEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPackage builds a package the way `adfscim package` does (with a small
// stand-in main package, so the test does not depend on the service's
// wiring) and checks what the Functions host needs from it.
func TestPackage(t *testing.T) {
	root := repoRoot(t)
	out := t.TempDir()
	zipPath, err := Package(context.Background(), Options{
		RepoRoot:    root,
		OutDir:      out,
		MainPackage: "./internal/deploy/testdata/app",
	})
	if err != nil {
		t.Fatalf("Package: %v", err)
	}
	if want := filepath.Join(out, ZipName); zipPath != want {
		t.Errorf("zip path = %s, want %s", zipPath, want)
	}
	if left, _ := filepath.Glob(filepath.Join(out, "*.part")); len(left) != 0 {
		t.Errorf("temporary files left in OutDir: %v", left)
	}

	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	defer zr.Close()

	entries := make(map[string]*zip.File)
	var names []string
	for _, f := range zr.File {
		entries[f.Name] = f
		names = append(names, f.Name)
	}
	wantNames := []string{"host.json", BinaryName}
	for _, fn := range Functions() {
		wantNames = append(wantNames, fn.Name+"/function.json")
	}
	slices.Sort(names)
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("zip entries = %v, want %v", names, wantNames)
	}

	t.Run("binary is an executable linux/amd64 ELF", func(t *testing.T) {
		f := entries[BinaryName]
		if mode := f.Mode(); mode.Perm() != 0o755 || !mode.IsRegular() {
			t.Errorf("binary mode = %v, want -rwxr-xr-x", mode)
		}
		if creator := f.CreatorVersion >> 8; creator != 3 {
			t.Errorf("binary entry made on host %d, want 3 (Unix) so the mode is honoured", creator)
		}
		ef, err := elf.NewFile(bytes.NewReader(readZipEntry(t, f)))
		if err != nil {
			t.Fatalf("binary is not ELF: %v", err)
		}
		if ef.Machine != elf.EM_X86_64 {
			t.Errorf("binary machine = %v, want EM_X86_64", ef.Machine)
		}
		if ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
			t.Errorf("binary OS ABI = %v, want Linux", ef.OSABI)
		}
		if ef.Section(".interp") != nil {
			t.Error("binary is dynamically linked; want a static (CGO_ENABLED=0) build")
		}
	})

	t.Run("host.json names the binary", func(t *testing.T) {
		var h struct {
			CustomHandler struct {
				Description struct {
					DefaultExecutablePath string `json:"defaultExecutablePath"`
				} `json:"description"`
			} `json:"customHandler"`
		}
		if err := json.Unmarshal(readZipEntry(t, entries["host.json"]), &h); err != nil {
			t.Fatal(err)
		}
		if got := h.CustomHandler.Description.DefaultExecutablePath; got != BinaryName {
			t.Errorf("defaultExecutablePath = %q, want %q", got, BinaryName)
		}
	})

	t.Run("same inputs give the same archive", func(t *testing.T) {
		again, err := Package(context.Background(), Options{
			RepoRoot:    root,
			OutDir:      t.TempDir(),
			MainPackage: "./internal/deploy/testdata/app",
		})
		if err != nil {
			t.Fatalf("Package: %v", err)
		}
		a, err := os.ReadFile(zipPath)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Error("two packages of the same tree differ")
		}
	})

	for _, fn := range Functions() {
		t.Run(fn.Name+"/function.json is copied unchanged", func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(root, "functions", fn.Name, "function.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got := readZipEntry(t, entries[fn.Name+"/function.json"]); !bytes.Equal(got, want) {
				t.Errorf("zip holds\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestPackageRejectsBadLayout checks that Package refuses, before building,
// a layout the Functions host could not run.
func TestPackageRejectsBadLayout(t *testing.T) {
	root := repoRoot(t)
	goodHost, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	goodFunc := []byte(`{"bindings":[]}`)
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"host.json names another binary", map[string][]byte{
			"host.json":                 bytes.Replace(goodHost, []byte(`"adfscim"`), []byte(`"handler"`), 1),
			"functions/A/function.json": goodFunc,
		}},
		{"host.json does not forward requests", map[string][]byte{
			"host.json":                 bytes.Replace(goodHost, []byte(`"enableForwardingHttpRequest": true`), []byte(`"enableForwardingHttpRequest": false`), 1),
			"functions/A/function.json": goodFunc,
		}},
		{"function folder without function.json", map[string][]byte{
			"host.json":                 goodHost,
			"functions/A/function.json": goodFunc,
			"functions/B/readme.txt":    []byte("x"),
		}},
		{"function.json is not JSON", map[string][]byte{
			"host.json":                 goodHost,
			"functions/A/function.json": []byte("{"),
		}},
		{"no functions", map[string][]byte{
			"host.json":       goodHost,
			"functions/.keep": nil,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := t.TempDir()
			// GoCmd points nowhere: a layout error must come before any build.
			_, err := Package(context.Background(), Options{RepoRoot: dir, OutDir: out, GoCmd: filepath.Join(dir, "no-go")})
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("Package error = %v, want ErrLayout", err)
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("OutDir not empty after a failed package: %v", left)
			}
		})
	}
}

func TestFindRepoRoot(t *testing.T) {
	root := repoRoot(t)
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
		wantErr         error
	}{
		{"from the root", root, root, nil},
		{"from a package", filepath.Join(root, "internal", "deploy"), root, nil},
		{"from testdata", filepath.Join(root, "internal", "deploy", "testdata", "app"), root, nil},
		{"another module", other, "", ErrNoRepoRoot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindRepoRoot(tt.dir)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("FindRepoRoot(%s) = %q, %v; want %q, %v", tt.dir, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

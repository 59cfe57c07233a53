package deploy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestPackagedAppRunsAsCustomHandler builds the real package, unpacks it the
// way the Functions host does (keeping the zip's file modes) and plays the
// host's part: start the binary named in host.json with
// FUNCTIONS_CUSTOMHANDLER_PORT, wait until it answers, then send a forwarded
// HTTP request and a timer invocation.
func TestPackagedAppRunsAsCustomHandler(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "main.go")); err != nil {
		t.Fatalf("no adfscim command at the repository root: %v", err)
	}
	zipPath, err := Package(context.Background(), Options{RepoRoot: root, OutDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Package: %v", err)
	}
	site := unzipLikeHost(t, zipPath)

	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string   `json:"defaultExecutablePath"`
				Arguments             []string `json:"arguments"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	b, err := os.ReadFile(filepath.Join(site, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	cmd := exec.Command(filepath.Join(site, host.CustomHandler.Description.DefaultExecutablePath), host.CustomHandler.Description.Arguments...)
	cmd.Dir = site
	cmd.Env = []string{
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port),
		"SCIM_BEARER_TOKEN=package-test-token-0123456789abcdefgh",
		"ADFSCIM_DATA_DIR=" + t.TempDir(),
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start packaged binary: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	// Like the host, poll until the handler answers; stop if it exits.
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("packaged binary exited before answering: %v\n%s", err, out.Bytes())
		case <-time.After(50 * time.Millisecond):
		}
	}

	timerBody := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"ReconcileRbac","UtcNow":"2026-01-01T00:00:00Z"}}}`
	tests := []struct {
		name, method, path, body, token string
		want                            int
	}{
		{"readiness", http.MethodGet, "/", "", "", http.StatusOK},
		{"SCIM without a token", http.MethodGet, "/scim/v2/Users", "", "", http.StatusUnauthorized},
		{"SCIM with the token", http.MethodGet, "/scim/v2/Users", "", "package-test-token-0123456789abcdefgh", http.StatusOK},
		{"timer invocation", http.MethodPost, "/ReconcileRbac", timerBody, "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, bytes.NewBufferString(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, resp.StatusCode, tt.want, body)
			}
			if tt.path == "/ReconcileRbac" {
				var inv map[string]json.RawMessage
				if err := json.Unmarshal(body, &inv); err != nil {
					t.Fatalf("timer answer is not JSON: %s", body)
				}
				for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
					if _, ok := inv[k]; !ok {
						t.Errorf("timer answer lacks %s: %s", k, body)
					}
				}
			}
		})
	}
}

// unzipLikeHost extracts the package into a new directory, keeping each
// entry's mode as Azure Functions does on Linux.
func unzipLikeHost(t *testing.T, zipPath string) string {
	t.Helper()
	dir := t.TempDir()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

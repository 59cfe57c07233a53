package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	spawnpkg "github.com/adfscim/adfscim/internal/spawn"
)

// server is an adfscim process the harness started.
type server struct {
	*spawnpkg.Server
	url     string // SCIM base URL
	dataDir string
	rmDir   bool
}

// startTimeout bounds how long a spawned server may take to say it serves.
const startTimeout = 60 * time.Second

// spawn starts the binary (spawnpkg.Start) with a fresh data directory and the
// token, on the embedded store whatever this process's environment says.
func spawn(ctx context.Context, o *Options) (*server, error) {
	s := &server{dataDir: o.DataDir}
	if s.dataDir == "" {
		d, err := os.MkdirTemp("", "adfscim-load-")
		if err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		s.dataDir, s.rmDir = d, true
	}
	if o.Token == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		o.Token = hex.EncodeToString(b)
	}
	env := append(slices.Clone(o.SpawnEnv),
		"SCIM_BEARER_TOKEN="+o.Token,
		"FUNCTIONS_CUSTOMHANDLER_PORT=",
		"TABLES_CONNECTION_STRING=",
		"TABLES_ENDPOINT=",
		"KEYVAULT_URL=",
	)
	stderr := &tailBuffer{max: 8 << 10}
	// The request log goes nowhere: the harness must not slow the server
	// down by reading it, nor let a full pipe block it.
	srv, err := spawnpkg.Start(ctx, spawnpkg.Options{
		Binary: o.Spawn, Env: env, DataDir: s.dataDir, Stderr: stderr, Timeout: startTimeout,
	})
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("spawned server: %w: %s", err, stderr.String())
	}
	s.Server, s.url = srv, srv.URL
	return s, nil
}

func (s *server) pid() int { return s.PID() }

func (s *server) storeFile() string { return s.StoreFile() }

// stop ends the server cleanly (spawnpkg.Server.Stop) and removes a temporary
// data directory.
func (s *server) stop() error {
	err := s.Stop()
	s.cleanup()
	return err
}

func (s *server) cleanup() {
	if s.rmDir {
		_ = os.RemoveAll(s.dataDir)
	}
}

// tailBuffer keeps the last max bytes written to it (the spawned server's
// stderr, shown when it fails).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// memory is what /proc/<pid>/status says about a process's resident set.
type memory struct {
	RssAnonKB int64 `json:"rss_anon_kb"`
	VmRSSKB   int64 `json:"vm_rss_kb"`
	VmHWMKB   int64 `json:"vm_hwm_kb"`
	// StoreBytes is the store file's size.
	StoreBytes int64 `json:"store_bytes"`
}

// readMemory reads RssAnon, VmRSS and VmHWM of pid, and the size of store.
func readMemory(pid int, store string) (memory, error) {
	var m memory
	var errs []error
	if pid > 0 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			errs = append(errs, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, val, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(val)
			if len(f) == 0 {
				continue
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			switch name {
			case "RssAnon":
				m.RssAnonKB = kb
			case "VmRSS":
				m.VmRSSKB = kb
			case "VmHWM":
				m.VmHWMKB = kb
			}
		}
	}
	if store != "" {
		fi, err := os.Stat(store)
		if err != nil {
			errs = append(errs, err)
		} else {
			m.StoreBytes = fi.Size()
		}
	}
	return m, errors.Join(errs...)
}

package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// terminateSignal asks the spawned server to shut down cleanly.
const terminateSignal = syscall.SIGTERM

// server is an adfscim process the harness started.
type server struct {
	cmd     *exec.Cmd
	url     string // SCIM base URL
	dataDir string
	rmDir   bool
	done    chan error
	stderr  *tailBuffer
}

// startTimeout bounds how long a spawned server may take to say it serves.
const startTimeout = 60 * time.Second

// spawn starts the binary on a free 127.0.0.1 port with a fresh data
// directory and the token, and waits until it answers /healthz. (Polling,
// rather than reading the "serving" log line, works at any log level.)
func spawn(ctx context.Context, o *Options) (*server, error) {
	s := &server{dataDir: o.DataDir, done: make(chan error, 1), stderr: &tailBuffer{max: 8 << 10}}
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
	addr, err := freePort()
	if err != nil {
		s.cleanup()
		return nil, err
	}
	// Not CommandContext: the server gets SIGTERM and a grace period, not SIGKILL.
	cmd := exec.Command(o.Spawn, "serve")
	cmd.Env = append(os.Environ(), o.SpawnEnv...)
	cmd.Env = append(cmd.Env,
		"ADFSCIM_LISTEN="+addr,
		"ADFSCIM_DATA_DIR="+s.dataDir,
		"SCIM_BEARER_TOKEN="+o.Token,
		"FUNCTIONS_CUSTOMHANDLER_PORT=",
		"TABLES_CONNECTION_STRING=",
		"TABLES_ENDPOINT=",
		"KEYVAULT_URL=",
	)
	// The request log goes nowhere: the harness must not slow the server
	// down by reading it, nor let a full pipe block it.
	cmd.Stdout = io.Discard
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("start %s: %w", o.Spawn, err)
	}
	s.cmd = cmd
	go func() { s.done <- cmd.Wait() }()
	s.url = "http://" + addr + "/scim/v2"

	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			s.stop()
			return nil, fmt.Errorf("spawned server exited before serving (%v): %s", err, s.stderr.String())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("spawned server did not answer on %s within %s: %s", addr, startTimeout, s.stderr.String())
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	ln, err := listenLoopback()
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) storeFile() string { return filepath.Join(s.dataDir, "adfscim.db") }

// stop sends SIGTERM, waits up to 30 s for a clean shutdown (the store is
// closed), kills it otherwise, and removes a temporary data directory.
func (s *server) stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(terminateSignal)
		t := time.NewTimer(30 * time.Second)
		select {
		case err = <-s.done:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			err = errors.Join(errors.New("spawned server ignored SIGTERM for 30s"), <-s.done)
		}
		t.Stop()
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			err = nil // ended by our signal
		}
	}
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

// Package spawn runs an adfscim binary as a server process on a free
// loopback port and waits until it serves: the one way the load harness
// (adfscim loadtest -spawn) and the end-to-end tests start the server.
package spawn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Options say which binary to run and how.
type Options struct {
	// Binary is the path of the adfscim binary.
	Binary string
	// Env is added to this process's environment (later entries win).
	Env []string
	// DataDir, when set, is the server's ADFSCIM_DATA_DIR; StoreFile names
	// the embedded store in it.
	DataDir string
	// Stdout and Stderr receive the server's output (its JSON log is on
	// stdout); nil discards it.
	Stdout, Stderr io.Writer
	// Timeout bounds the wait for the server to serve (default 60 s).
	Timeout time.Duration
}

// Server is a running adfscim server process.
type Server struct {
	// URL is the SCIM base URL (http://127.0.0.1:port/scim/v2).
	URL string
	// Addr is the address the server listens on.
	Addr    string
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has ended
	exitErr error         // cmd.Wait's, once exited is closed
}

// ExitError is Start's error when the process ended before it served. Err
// is the process's exit error, nil when it exited with status 0.
type ExitError struct{ Err error }

func (e *ExitError) Error() string {
	return fmt.Sprintf("the server exited before serving (%v)", e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

// Start runs `o.Binary serve` listening on a free 127.0.0.1 port and waits
// until it answers GET /healthz. (Polling, rather than reading the
// "adfscim serving" log line, works at any log level and lets the caller
// discard the log.) On an error the process is gone.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	// Not CommandContext: Stop sends SIGTERM and leaves a grace period.
	cmd := exec.Command(o.Binary, "serve")
	cmd.Env = append(append(os.Environ(), o.Env...), "ADFSCIM_LISTEN="+addr)
	if o.DataDir != "" {
		cmd.Env = append(cmd.Env, "ADFSCIM_DATA_DIR="+o.DataDir)
	}
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	s := &Server{URL: "http://" + addr + "/scim/v2", Addr: addr, dataDir: o.DataDir, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitServing(ctx, o.Timeout); err != nil {
		_ = s.Kill()
		return nil, err
	}
	return s, nil
}

// waitServing polls /healthz until it answers 200, the process ends, ctx
// ends or timeout passes.
func (s *Server) waitServing(ctx context.Context, timeout time.Duration) error {
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		resp, err := hc.Get("http://" + s.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return &ExitError{Err: s.exitErr}
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the server did not answer on %s within %s", s.Addr, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// StoreFile is the embedded store's file in Options.DataDir ("" without one).
func (s *Server) StoreFile() string {
	if s.dataDir == "" {
		return ""
	}
	return filepath.Join(s.dataDir, "adfscim.db")
}

// Stop sends SIGTERM and waits for a clean shutdown (the server finishes
// its requests and closes the store); after 30 s it kills the process and
// says so. A process ended by the signal is no error.
func (s *Server) Stop() error {
	select {
	case <-s.exited:
		return s.ended()
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
		return s.ended()
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the server ignored SIGTERM for 30s and was killed")
	}
}

// Kill ends the server with SIGKILL, as a crash would (no shutdown, the
// store is not closed), and waits for it.
func (s *Server) Kill() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-s.exited
	return nil
}

// ended is the exit error of an ended process, nil when a signal ended it.
func (s *Server) ended() error {
	var ee *exec.ExitError
	if errors.As(s.exitErr, &ee) && !ee.Exited() {
		return nil
	}
	return s.exitErr
}

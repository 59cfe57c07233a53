package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The trivial handler serves one fixed body (a real filter answer, so both
// move the same bytes) to every request: the ceiling a Go net/http server
// reaches on this machine. By default it runs in a process of its own, as
// the server under test does: inside the load generator's process it would
// share one Go scheduler and garbage collector with the clients, and
// measured about half as fast on the 2-core machine, which would flatter
// every ratio.

// Trivial handler placements (Options.Trivial).
const (
	TrivialProcess   = "process"
	TrivialInProcess = "in-process"
)

// trivialServer is a running trivial handler.
type trivialServer struct {
	url   string
	close func()
}

func trivialHandler(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json; charset=utf-8")
		_, _ = w.Write(body)
	})
}

func newTrivialHTTPServer(body []byte) *http.Server {
	return &http.Server{Handler: trivialHandler(body), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
}

// startTrivial starts the trivial handler where o says.
func startTrivial(ctx context.Context, o *Options, body []byte) (*trivialServer, error) {
	if o.Trivial == TrivialInProcess {
		ln, err := listenLoopback()
		if err != nil {
			return nil, err
		}
		srv := newTrivialHTTPServer(body)
		go func() { _ = srv.Serve(ln) }()
		return &trivialServer{url: "http://" + ln.Addr().String() + "/scim/v2", close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}}, nil
	}
	return startTrivialProcess(ctx, o.Self, body)
}

// startTrivialProcess runs `self load -serve-trivial <body file>` and reads
// the address it listens on from its first line of output.
func startTrivialProcess(ctx context.Context, self string, body []byte) (*trivialServer, error) {
	dir, err := os.MkdirTemp("", "adfscim-trivial-")
	if err != nil {
		return nil, err
	}
	bodyFile := filepath.Join(dir, "body.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(self, "load", "-serve-trivial", bodyFile)
	// Dies with the harness, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the trivial handler (%s): %w", self, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			addr <- strings.TrimPrefix(sc.Text(), "listening ")
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			stop()
			return nil, fmt.Errorf("the trivial handler (%s load -serve-trivial) said nothing: %s", self, stderr.String())
		}
		u := "http://" + a + "/scim/v2"
		if err := loopbackURL(u); err != nil {
			stop()
			return nil, fmt.Errorf("trivial handler: %w", err)
		}
		return &trivialServer{url: u, close: stop}, nil
	case <-time.After(startTimeout):
		stop()
		return nil, fmt.Errorf("the trivial handler did not start within %s: %s", startTimeout, stderr.String())
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// ServeTrivial serves the body in bodyFile on a free 127.0.0.1 port until
// ctx ends, after writing "listening <addr>" to stdout. It is the process
// `load -serve-trivial` runs.
func ServeTrivial(ctx context.Context, bodyFile string, stdout io.Writer) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	srv := newTrivialHTTPServer(body)
	if _, err := fmt.Fprintf(stdout, "listening %s\n", ln.Addr()); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

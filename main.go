// Command adfscim is a SCIM 2.0 service provider that turns identity
// provider group membership into Azure RBAC role assignments on Data Factory
// instances. It runs as an Azure Functions custom handler, or locally with
// `go run .` on an embedded store.
//
// This file only wires the parts together: configuration -> store, tokens,
// directory -> HTTP handler, and the subcommands.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: adfscim [command] [flags]

commands:
  serve      serve the SCIM API (the default)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "adfscim: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "adfscim %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(level string, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// openStore opens the configured engine: Table Storage when configured,
// else the embedded store in the data directory.
func openStore(cfg config.Config) (store.Store, string, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "adfscim.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return nil, "", err
	}
	return st, "embedded store " + path, nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stdout)
	st, where, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	auth, err := newStaticAuth(cfg.BearerToken)
	if err != nil {
		return err
	}
	dir := directory.New(st, directory.Options{})
	srv := handlers.New(handlers.Options{
		Directory: dir,
		Auth:      auth,
		Logger:    log,
		BaseURL:   cfg.BaseURL,
		Timers: map[string]handlers.TimerFunc{
			"ReconcileRbac": func(ctx context.Context, pastDue bool) ([]string, error) {
				log.Info().Bool("past_due", pastDue).Msg("reconcile timer fired")
				return []string{"reconcile ran"}, nil
			},
		},
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	url := "http://" + ln.Addr().String() + handlers.ScimPrefix
	log.Info().Str("url", url).Str("store", where).Msg("adfscim serving")

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests, then close the store (deferred above).
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return hs.Shutdown(shutdownCtx)
}

// staticAuth accepts one configured token with every scope.
type staticAuth struct{ digest [32]byte }

func newStaticAuth(token string) (*staticAuth, error) {
	if token == "" {
		return nil, errors.New("SCIM_BEARER_TOKEN is required")
	}
	return &staticAuth{digest: sha256.Sum256([]byte(token))}, nil
}

func (a *staticAuth) Authenticate(_ context.Context, token string) (handlers.Identity, error) {
	d := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(d[:], a.digest[:]) != 1 {
		return handlers.Identity{}, errors.New("unknown token")
	}
	return handlers.Identity{Client: "local", Scopes: []string{handlers.ScopeScimRead, handlers.ScopeScimWrite, handlers.ScopeOpsRead, handlers.ScopeOpsWrite}}, nil
}

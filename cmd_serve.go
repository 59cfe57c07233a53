package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"time"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/tokens"
)

// workerPoll is how often serve's worker looks for access changes queued
// by other instances.
const workerPoll = 30 * time.Second

// serve runs `adfscim serve`: the SCIM API, the operations API and the
// ReconcileRbac timer on 127.0.0.1 (or -listen), until ctx ends.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("serve", "[serve] [flags]", "Serves the SCIM API and the operations API; logs are JSON lines on stdout.", config.AllFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stdout)
	// The first line says which world this instance acts on.
	log.Info().Str("store", cfg.StoreName()).Str("arm", cfg.ARMName()).Msg("adfscim starting")
	tuneGC(getenv)
	a, err := app.New(ctx, cfg, app.Options{Logger: log})
	if err != nil {
		return err
	}
	// Close stops the worker, writes the last checkpoint and closes the
	// store, after the HTTP server has finished its requests (below).
	defer func() {
		if err := a.Close(); err != nil {
			log.Error().Err(err).Msg("shutdown")
		}
	}()
	a.StartWorker(workerPoll)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	url := "http://" + ln.Addr().String() + handlers.ScimPrefix
	log.Info().Str("url", url).Str("store", a.Where).Str("arm", cfg.ARMName()).Msg("adfscim serving")
	if local, ok := a.Auth.(*tokens.Local); ok && cfg.BearerToken == "" {
		// First start of a local deployment: make a token and show it once.
		value, err := local.Bootstrap(ctx)
		if err != nil {
			return err
		}
		if value != "" {
			fmt.Fprintf(stderr, "\nadfscim: SCIM endpoint %s\nadfscim: generated a bearer token for client %q (shown only now; only its digest is kept):\n\n    %s\n\n", url, tokens.BootstrapClient, value)
		}
	}
	if cfg.Pprof != "" {
		// Profiling by hand only: loopback, never in the default mux.
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			err := (&http.Server{Addr: cfg.Pprof, Handler: pp, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
			log.Error().Err(err).Msg("pprof server stopped")
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests; then the deferred Close.
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return hs.Shutdown(shutdownCtx)
}

// tuneGC collects garbage less often than Go's default, unless GOGC or
// GOMEMLIMIT say otherwise. The live heap is small (about 10 MB with 100,000
// users: the store is a memory-mapped file), so a collection every 4x growth
// instead of 2x costs ~20 MB and gives the request path ~20 % more CPU
// (docs/BENCHMARKS.md); the soft memory limit keeps a burst from growing the
// heap without bound.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(512 << 20)
	}
}

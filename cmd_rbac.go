package main

import (
	"context"
	"errors"
	"io"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/rbac"
)

// rbacCommand runs `adfscim plan` and `adfscim reconcile` against the
// configured store and ARM. A reconcile whose audit records cannot be
// written fails, as the timer's does.
func rbacCommand(ctx context.Context, command string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	about := "Shows what a reconcile would change on the factories' role assignments (a dry run): JSON on a pipe, a summary on a terminal."
	if command == "reconcile" {
		about = "Applies the mapping to the factories' role assignments now: JSON on a pipe, a progress bar and a summary on a terminal."
	}
	c := newCommand(command, command+" [flags]", about, config.StoreFlags|config.RBACFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	announce(stderr, command, cfg)
	if cfg.Mapping == "" && cfg.MappingFile == "" {
		return errors.New("no mapping: set ADFSCIM_MAPPING or ADFSCIM_MAPPING_FILE, or pass -mapping FILE; without one there is nothing to " + command)
	}
	return withServices(ctx, cfg, stderr, func(s *app.Services) error {
		return errors.Join(rbac.RunCLI(ctx, s.Reconciler, command, stdout, isTerminal(stdout)), s.FlushAudit(ctx))
	})
}

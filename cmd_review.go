package main

import (
	"context"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/store"
)

// reviewer is the access review side of the report builder, for the
// operations API (GET and POST /ops/v1/review); nil when there is none.
func reviewer(r handlers.Reporter) handlers.Reviewer {
	rv, _ := r.(handlers.Reviewer)
	return rv
}

// reviewCommand runs `adfscim review [--factory name] [--csv|--html]`: the
// access review sheet to stdout, JSON unless a flag asks otherwise. The
// completed review is uploaded with POST /ops/v1/review.
func reviewCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("review", "review [--factory name] [--json|--csv|--html] [flags] > sheet",
		"Writes an access review sheet to stdout: per factory and role, who holds it, through which group, since when, the last change, and what became of the previous review's removals. Upload the decisions with POST /ops/v1/review.",
		config.StoreFlags|config.RBACFlags, stderr)
	factory := c.fs.String("factory", "", "one factory (its name, as adf-prod, or resource id); all when empty")
	asJSON := c.fs.Bool(report.FormatJSON, false, "JSON (the default)")
	asCSV := c.fs.Bool(report.FormatCSV, false, "CSV, one row per line, with empty decision and note columns")
	asHTML := c.fs.Bool(report.FormatHTML, false, "a self-contained HTML page")
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	format, n := report.FormatJSON, 0
	for f, set := range map[string]bool{report.FormatJSON: *asJSON, report.FormatCSV: *asCSV, report.FormatHTML: *asHTML} {
		if set {
			format, n = f, n+1
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "choose one of --json, --csv and --html")
		return errUsage
	}
	announce(stderr, "review", cfg)
	return withStore(ctx, cfg, func(cfg config.Config, st store.Store, _ string) error {
		dir, _, err := newDirectory(cfg, st)
		if err != nil {
			return err
		}
		trail := audit.New(st, audit.Options{})
		rec, err := openReconciler(ctx, cfg, st, dir, trail, newLogger(cfg.LogLevel, stderr))
		if err != nil {
			return err
		}
		b, err := reportBuilder(cfg, st, dir, trail, rec)
		if err != nil {
			return err
		}
		sh, err := b.Review(ctx, *factory)
		if err != nil {
			return err
		}
		return report.WriteSheet(stdout, sh, format)
	})
}

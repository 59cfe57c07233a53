package main

import (
	"context"
	"io"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/report"
)

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
	format, err := oneFormat(stderr, *asJSON, *asCSV, *asHTML)
	if err != nil {
		return err
	}
	announce(stderr, "review", cfg)
	return withServices(ctx, cfg, stderr, func(s *app.Services) error {
		sh, err := s.Report.Review(ctx, *factory)
		if err != nil {
			return err
		}
		return report.WriteSheet(stdout, sh, format)
	})
}

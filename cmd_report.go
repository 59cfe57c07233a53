package main

import (
	"context"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/report"
)

// reportCommand runs `adfscim report [--csv|--html]`: the access report
// to stdout, JSON unless a flag asks otherwise.
func reportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("report", "report [--json|--csv [--deprovisioning]|--html] [flags] > report", "Writes the access report to stdout: who holds which role where, since when, why.", config.StoreFlags|config.RBACFlags, stderr)
	asJSON := c.fs.Bool(report.FormatJSON, false, "JSON (the default)")
	asCSV := c.fs.Bool(report.FormatCSV, false, "CSV, one row per assignment")
	asHTML := c.fs.Bool(report.FormatHTML, false, "a self-contained HTML page")
	deprov := c.fs.Bool(report.TableDeprovisioning, false, "with --csv: the deprovisioning evidence, one row per loss of access, instead of the access table")
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	if *deprov && !*asCSV {
		fmt.Fprintln(stderr, "--deprovisioning goes with --csv (JSON and HTML hold the deprovisioning evidence already)")
		return errUsage
	}
	format, err := oneFormat(stderr, *asJSON, *asCSV, *asHTML)
	if err != nil {
		return err
	}
	if *deprov {
		format = report.FormatDeprovisioningCSV
	}
	announce(stderr, "report", cfg)
	return withServices(ctx, cfg, stderr, func(s *app.Services) error {
		rep, err := s.Report.Build(ctx)
		if err != nil {
			return err
		}
		return report.Write(stdout, rep, format)
	})
}

// oneFormat returns the output format the flags --json, --csv and --html
// chose (JSON when none), or errUsage when more than one is set.
func oneFormat(stderr io.Writer, asJSON, asCSV, asHTML bool) (string, error) {
	format, n := report.FormatJSON, 0
	for _, f := range []struct {
		name string
		set  bool
	}{{report.FormatJSON, asJSON}, {report.FormatCSV, asCSV}, {report.FormatHTML, asHTML}} {
		if f.set {
			format, n = f.name, n+1
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "choose one of --json, --csv and --html")
		return "", errUsage
	}
	return format, nil
}

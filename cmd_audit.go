package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/setup"
	"github.com/adfscim/adfscim/internal/config"
)

// auditCommands are the subcommands of `adfscim audit`.
var auditCommands = map[string]bool{"verify": true, "export": true, "expire": true, "public-key": true}

const auditUsage = `usage: adfscim audit verify|export|expire|public-key [flags]

  audit verify [-from 2026-01-01] [-to 2026-12-31] [-anchor seq:hash]... [-checkpoints [-public-key pub.pem]] [-json]
  audit export [-since 2026-01-01|RFC3339] [-format jsonl|csv]
  audit expire -before 2025-11-01 [-actor name]
  audit public-key > pub.pem

adfscim audit <subcommand> -h lists a subcommand's flags.
`

// auditCommand runs `adfscim audit verify|export|expire|public-key` and returns the
// exit code. Help and a malformed command line are answered before the
// store is opened.
func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (int, error) {
	c := newCommand("audit", "audit verify|export|expire|public-key [flags]", "Checks, reads or trims the audit trail.", config.StoreFlags, stderr)
	settings, rest := splitFlags(c.fs, args)
	switch {
	case len(rest) == 0 || isHelp(rest[0]):
		fmt.Fprint(stderr, auditUsage)
		printSettingsFlags(c.fs, stderr)
		if len(rest) == 0 {
			return audit.ExitError, errUsage
		}
		return audit.ExitOK, nil
	case !auditCommands[rest[0]]:
		fmt.Fprintf(stderr, "adfscim audit: unknown command %q\n\n%s", rest[0], auditUsage)
		return audit.ExitError, errUsage
	case helpAsked(rest):
		// The subcommand prints its flags; nothing is opened.
		code := audit.RunCLI(ctx, rest, nil, stdout, stderr)
		printSettingsFlags(c.fs, stderr)
		return code, nil
	}
	cfg, err := c.load(settings, getenv)
	if err != nil {
		return audit.ExitError, err
	}
	if rest[0] == "public-key" {
		// Needs the key, not the store.
		return audit.RunCLIWith(ctx, rest, nil, setup.CLIOptions(app.CheckpointConfig(cfg, nil)), stdout, stderr), nil
	}
	code := audit.ExitError
	err = withStore(ctx, cfg, stderr, func(b *app.Base) error {
		code = audit.RunCLIWith(ctx, rest, b.Store, setup.CLIOptions(b.CheckpointConfig()), stdout, stderr)
		return nil
	})
	if errors.Is(err, errUsage) {
		return audit.ExitError, err
	}
	return code, err
}

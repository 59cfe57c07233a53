package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/store/dump"
)

// exportCommand writes the whole state as JSON lines to stdout.
func exportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("export", "export [flags] > backup.jsonl", "Writes the whole state as JSON lines to stdout (backups, moving engines).", config.StoreFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	return withStore(ctx, cfg, stderr, func(b *app.Base) error {
		return dump.Export(ctx, b.Store, deploy.Tables(), stdout)
	})
}

// importCommand reads JSON lines from stdin into the configured store. It
// refuses a store that already holds data unless --force is given; with it
// the store ends up holding exactly the backup (every row that is not in it
// is deleted). It opens the store without app.OpenStore's check, since a
// forced import is what finishes an interrupted restore.
func importCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("import", "import [--force] [flags] < backup.jsonl", "Reads an export from stdin into an empty store; --force replaces everything in a store with the backup.", config.StoreFlags, stderr)
	forceFlag := c.fs.Bool("force", false, "replace everything in a store that already holds data with the backup (also finishes an interrupted restore)")
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	force := *forceFlag
	b, err := app.OpenEngine(ctx, cfg, app.Options{Logger: newLogger(cfg.LogLevel, stderr)})
	if err != nil {
		return err
	}
	defer b.Close()
	where := b.Where
	n, err := dump.Import(ctx, b.Store, stdin, dump.Options{Force: force, Tables: deploy.Tables()})
	switch {
	case errors.Is(err, dump.ErrNotEmpty):
		return fmt.Errorf("%w in the %s; pass --force to replace everything in it with the backup", err, where)
	case errors.Is(err, dump.ErrRestorePending) && force:
		return fmt.Errorf("%w; the %s holds part of the backup and refuses other commands: run the same import again to finish it", err, where)
	case errors.Is(err, dump.ErrRestorePending):
		return fmt.Errorf("%w in the %s; %s", err, where, app.FinishRestore)
	case err != nil:
		return err
	case force:
		fmt.Fprintf(stdout, "restored %d rows into the %s; it holds exactly the backup\n", n, where)
	default:
		fmt.Fprintf(stdout, "imported %d rows into the %s\n", n, where)
	}
	return nil
}

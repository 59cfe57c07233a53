package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
)

// isTerminal reports whether w is a terminal (progress bars and prose) rather
// than a pipe or file (JSON).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// errUsage marks a malformed command line whose problem has already been
// printed with the usage; run exits 2 without printing it again.
var errUsage = errors.New("usage")

// command is one command's flag set: its own flags and the settings flags
// it takes. Every command builds it before anything else, so -h and a bad
// flag are answered without opening the store.
type command struct {
	fs    *flag.FlagSet
	flags *config.Flags
}

// newCommand starts the flag set of `adfscim <synopsis>`, with the settings
// flags of groups; about says what the command does.
func newCommand(name, synopsis, about string, groups config.FlagGroup, stderr io.Writer) *command {
	fs := flag.NewFlagSet("adfscim "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: adfscim %s\n\n%s\n\nflags (settings flags win over their environment variables):\n", synopsis, about)
		fs.PrintDefaults()
	}
	return &command{fs: fs, flags: config.AddFlags(fs, groups)}
}

// load parses args (no positional arguments allowed) and reads the
// configuration: the environment, then the flags given. -h returns
// flag.ErrHelp.
func (c *command) load(args []string, getenv func(string) string) (config.Config, error) {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, err
		}
		return config.Config{}, errUsage
	}
	if c.fs.NArg() > 0 {
		fmt.Fprintf(c.fs.Output(), "unexpected argument %q\n", c.fs.Arg(0))
		c.fs.Usage()
		return config.Config{}, errUsage
	}
	return c.flags.Load(getenv)
}

// splitFlags separates, for commands with subcommands (token, audit), the
// settings flags defined on fs from the rest, wherever they appear before
// "--": `adfscim token -data-dir d list` and `adfscim token list -data-dir
// d` are the same. It returns the settings flags and the remaining words.
func splitFlags(fs *flag.FlagSet, args []string) (settings, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return settings, append(rest, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(a, "-") || f == nil || isHelp(a) {
			rest = append(rest, a)
			continue
		}
		settings = append(settings, a)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && bf.IsBoolFlag()) && i+1 < len(args) {
			i++
			settings = append(settings, args[i])
		}
	}
	return settings, rest
}

// isHelp reports whether a is a request for help.
func isHelp(a string) bool {
	switch a {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// helpAsked reports whether args ask for help before any "--".
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// printSettingsFlags lists the settings flags fs takes, after a
// subcommand's own usage.
func printSettingsFlags(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "\nflags of every subcommand, before or after it (they win over their environment variables):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// announce writes the first line of a command that acts on the world: which
// store and which ARM. It goes to stderr so that stdout stays the JSON, CSV
// or HTML a script reads.
func announce(w io.Writer, name string, cfg config.Config) {
	fmt.Fprintf(w, "adfscim %s: store=%s arm=%s\n", name, cfg.StoreName(), cfg.ARMName())
}

// announceTokens is the token commands' first line: where the tokens live
// and which store's audit trail records the change, so that an operator
// with only KEYVAULT_URL exported sees that the record would go to a local
// store, not the service's.
func announceTokens(w io.Writer, cfg config.Config) {
	tokens := "store"
	if cfg.KeyVaultURL != "" {
		tokens = "keyvault " + cfg.KeyVaultURL
	}
	fmt.Fprintf(w, "adfscim token: tokens=%s trail=%s\n", tokens, cfg.StoreName())
}

// withStore opens the configured store (app.OpenStore), runs fn with it and
// closes it: the frame of every command that works on the state alone.
func withStore(ctx context.Context, cfg config.Config, stderr io.Writer, fn func(b *app.Base) error) error {
	b, err := app.OpenStore(ctx, cfg, app.Options{Logger: newLogger(cfg.LogLevel, stderr)})
	if err != nil {
		return err
	}
	defer b.Close()
	return fn(b)
}

// withServices is withStore for the commands that plan, reconcile or
// report: the services built on the store (app.Open).
func withServices(ctx context.Context, cfg config.Config, stderr io.Writer, fn func(s *app.Services) error) error {
	s, err := app.Open(ctx, cfg, app.Options{Logger: newLogger(cfg.LogLevel, stderr)})
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// newLogger logs JSON lines at level (info when empty or unknown) to w.
func newLogger(level string, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

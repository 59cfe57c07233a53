// Command adfscim is a SCIM 2.0 service provider that turns identity
// provider group membership into Azure RBAC role assignments on Data Factory
// instances. It runs as an Azure Functions custom handler, or locally with
// `go run .` on an embedded store.
//
// This file holds only the entry point and the dispatch to the commands,
// one file each (cmd_<name>.go); internal/app wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/adfscim/adfscim/internal/loadtest"
	"github.com/adfscim/adfscim/internal/tokens"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: adfscim [command] [flags]   (adfscim <command> -h: the command's flags)

commands:
  serve      serve the SCIM API (the default)
  token      manage bearer tokens: token create|rotate|list|revoke (see adfscim token -h)
  plan       show what a reconcile would change on the factories (dry run)
  reconcile  apply the mapping to the factories' role assignments now
  export     write the whole state as JSON lines to stdout (backups, moving engines)
  import     read an export from stdin into an empty store (--force: a non-empty one)
  package    build dist/adfscim.zip, the package Azure Functions deploys
  audit      audit verify|export|expire|public-key: check, read or trim the audit trail
  report     the access report to stdout: JSON, or --csv, or --html (a self-contained page)
  review     an access review sheet per factory and role to stdout: JSON, or --csv, or --html
  approles   the Entra application's appRoles for the mapping's direct grants, as JSON to stdout
  load       drive a local server the way Entra ID does and report requests/s, latency and memory
  help       this text

Settings come from the environment (README.md, Configuration); a command's flags win over them.
Every command that opens the store takes -data-dir and -log-level, for token and audit before or
after the subcommand. plan, reconcile, report and serve print first which store and ARM they use.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, usage+"\nserve, the default command:\n\n")
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stdout, stderr)
	case "token":
		err = tokenCommand(ctx, args, getenv, stdout, stderr)
	case "export":
		err = exportCommand(ctx, args, getenv, stdout, stderr)
	case "import":
		err = importCommand(ctx, args, getenv, stdin, stdout, stderr)
	case "package":
		err = packageCommand(ctx, args, stdout, stderr)
	case "plan", "reconcile":
		err = rbacCommand(ctx, cmd, args, getenv, stdout, stderr)
	case "load":
		err = loadtest.Command(ctx, args, getenv, stdout, stderr)
	case "report":
		err = reportCommand(ctx, args, getenv, stdout, stderr)
	case "approles":
		err = approlesCommand(args, getenv, stdout, stderr)
	case "review":
		err = reviewCommand(ctx, args, getenv, stdout, stderr)
	case "audit":
		code, err := auditCommand(ctx, args, getenv, stdout, stderr)
		if err != nil && !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "adfscim audit: %v\n", err)
		}
		return code
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "adfscim: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, tokens.ErrUsage):
		// The token CLI printed its usage and leaves saying what was
		// wrong to its caller, once.
		fmt.Fprintf(stderr, "adfscim %s: %v\n", cmd, err)
		return 2
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "adfscim %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

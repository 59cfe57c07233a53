package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrUsage is returned by RunCLI for a malformed command line; the usage
// has been written to stderr.
var ErrUsage = errors.New("tokens: usage")

const cliUsage = `usage:
  token create --client NAME --scopes SCOPE[,SCOPE...] [--expires 90d]
  token rotate --client NAME [--overlap 24h]
  token list [--json]
  token revoke --client NAME
scopes: scim.read, scim.write, ops.read, ops.write
durations: Go durations (36h, 90m) or whole days (90d)
`

// RunCLI runs one token management command on m: args are the words after
// "adfscim token" (a leading "token" is tolerated). Token values are
// written to stdout exactly once, by create and rotate; everything else
// goes to stderr, except list, which writes to stdout.
func RunCLI(ctx context.Context, args []string, m Manager, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return ErrUsage
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("token "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, cliUsage) }
	client := fs.String("client", "", "client name")
	switch cmd {
	case "create":
		scopes := fs.String("scopes", "", "comma-separated scopes")
		expires := fs.String("expires", "", "lifetime of the token (e.g. 90d); empty means no expiry")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		sc, err := ParseScopes(*scopes)
		if err != nil {
			return usageErr(stderr, err)
		}
		exp, err := parseCLIDuration(*expires)
		if err != nil {
			return usageErr(stderr, err)
		}
		if err := requireClient(stderr, *client); err != nil {
			return err
		}
		value, err := m.Create(ctx, *client, sc, exp)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created token for %s (scopes %s); it is shown once:\n", *client, FormatScopes(sc))
		fmt.Fprintln(stdout, value)
		return nil
	case "rotate":
		overlap := fs.String("overlap", "24h", "how long the previous token keeps working")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		ov, err := parseCLIDuration(*overlap)
		if err != nil {
			return usageErr(stderr, err)
		}
		if err := requireClient(stderr, *client); err != nil {
			return err
		}
		value, err := m.Rotate(ctx, *client, ov)
		if value != "" {
			// Print the new value even if shortening the old tokens failed:
			// the new version exists, and its value is lost otherwise.
			fmt.Fprintf(stderr, "new token of %s, shown once:\n", *client)
			fmt.Fprintln(stdout, value)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "rotated token of %s; previous tokens expire in %s\n", *client, ov)
		return nil
	case "list":
		asJSON := fs.Bool("json", false, "write JSON")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		infos, err := m.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if infos == nil {
				infos = []Info{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(infos)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tSCOPES\tKEY ID\tCREATED\tEXPIRES\tSTATE")
		for _, i := range infos {
			state := "active"
			switch {
			case !i.Enabled:
				state = "revoked"
			case !i.Expires.IsZero() && !now.Before(i.Expires):
				state = "expired"
			case !i.NotBefore.IsZero() && now.Before(i.NotBefore):
				state = "not yet valid"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Client, FormatScopes(i.Scopes), i.KeyID, fmtTime(i.Created), fmtTime(i.Expires), state)
		}
		return tw.Flush()
	case "revoke":
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if err := requireClient(stderr, *client); err != nil {
			return err
		}
		if err := m.Revoke(ctx, *client); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked every token of %s\n", *client)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", cmd, cliUsage)
	return ErrUsage
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n%s", fs.Arg(0), cliUsage)
		return ErrUsage
	}
	return nil
}

func usageErr(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "%v\n", err)
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

func requireClient(stderr io.Writer, client string) error {
	if client == "" {
		fmt.Fprint(stderr, "--client is required\n"+cliUsage)
		return ErrUsage
	}
	if err := CheckClientName(client); err != nil {
		return usageErr(stderr, err)
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// parseCLIDuration accepts a Go duration or a whole number of days ("90d").
// The empty string is 0.
func parseCLIDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%w: bad duration %q", ErrInvalid, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: bad duration %q", ErrInvalid, s)
	}
	return d, nil
}

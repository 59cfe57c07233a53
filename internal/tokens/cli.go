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

// DefaultExpiry is the lifetime of a token created without --expires: a
// forgotten token stops working on its own. --expires never asks for one
// that does not expire.
const DefaultExpiry = 180 * 24 * time.Hour

const cliUsage = `usage:
  token create --client NAME --scopes SCOPE[,SCOPE...] [--expires 180d|never]
  token rotate --client NAME [--overlap 24h]
  token list [--json]
  token revoke --client NAME
scopes: scim.read, scim.write, ops.read, ops.write
--expires: the token's lifetime, 180d unless given; never: a token that does not expire
durations: Go durations (36h, 90m) or whole days (90d)
`

// cliError is an error of RunCLI: its message says what is wrong once,
// without the package prefixes of the errors it wraps (the caller adds its
// own, "adfscim token: "), while errors.Is still finds them.
type cliError struct {
	msg   string
	err   error
	usage bool // a malformed command line: errors.Is(err, ErrUsage)
}

func (e *cliError) Error() string { return e.msg }

func (e *cliError) Unwrap() error { return e.err }

func (e *cliError) Is(target error) bool { return e.usage && target == ErrUsage }

// cliErr wraps err with its message freed of the "tokens: " and
// "invalid argument: " prefixes of this package's sentinel errors.
func cliErr(err error, usage bool) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
	msg = strings.TrimPrefix(msg, "tokens: ")
	return &cliError{msg: msg, err: err, usage: usage}
}

// RunCLI runs one token management command on m: args are the words after
// "adfscim token" (a leading "token" is tolerated). Token values are
// written to stdout exactly once, by create and rotate; everything else
// goes to stderr, except list, which writes to stdout. The usage goes to
// stderr when the command line is malformed; what went wrong is the
// returned error, for the caller to print once.
func RunCLI(ctx context.Context, args []string, m Manager, stdout, stderr io.Writer) error {
	err := runCLI(ctx, args, m, stdout, stderr)
	var ce *cliError
	if err != nil && !errors.As(err, &ce) && !errors.Is(err, flag.ErrHelp) {
		err = cliErr(err, false)
	}
	return err
}

func runCLI(ctx context.Context, args []string, m Manager, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		args = args[1:]
	}
	if len(args) == 0 {
		return usageErr(stderr, errors.New("a command is required: create, rotate, list or revoke"))
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("token "+cmd, flag.ContinueOnError)
	// The flag package's own message would repeat the returned error.
	fs.SetOutput(io.Discard)
	fs.Usage = func() { fmt.Fprint(stderr, cliUsage) }
	client := fs.String("client", "", "client name")
	switch cmd {
	case "create":
		scopes := fs.String("scopes", "", "comma-separated scopes")
		expires := fs.String("expires", "180d", "lifetime of the token (e.g. 90d), or never")
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if err := requireClient(stderr, *client); err != nil {
			return err
		}
		sc, err := ParseScopes(*scopes)
		if err != nil {
			return usageErr(stderr, err)
		}
		exp, err := parseExpires(*expires)
		if err != nil {
			return usageErr(stderr, err)
		}
		value, err := m.Create(ctx, *client, sc, exp)
		if err != nil {
			return err
		}
		lifetime := "never expires"
		if exp > 0 {
			lifetime = "expires " + time.Now().Add(exp).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(stderr, "created token for %s (scopes %s, %s); it is shown once:\n", *client, FormatScopes(sc), lifetime)
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
	return usageErr(stderr, fmt.Errorf("unknown command %q", cmd))
}

// parseFlags parses a command's flags; the flag package has written the
// usage (fs.Usage) when they are malformed, and -h is flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cliErr(err, true)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cliErr(fmt.Errorf("unexpected argument %q", fs.Arg(0)), true)
	}
	return nil
}

// usageErr writes the usage and returns err as a usage error.
func usageErr(stderr io.Writer, err error) error {
	fmt.Fprint(stderr, cliUsage)
	return cliErr(err, true)
}

func requireClient(stderr io.Writer, client string) error {
	if client == "" {
		return usageErr(stderr, errors.New("--client is required"))
	}
	if err := CheckClientName(client); err != nil {
		return usageErr(stderr, err)
	}
	return nil
}

// parseExpires reads --expires: a positive duration, or "never" for a token
// that does not expire (0 to Manager.Create).
func parseExpires(s string) (time.Duration, error) {
	if strings.EqualFold(strings.TrimSpace(s), "never") {
		return 0, nil
	}
	d, err := parseCLIDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%w: --expires must be a positive duration or never, not %q", ErrInvalid, s)
	}
	return d, err
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
			return 0, fmt.Errorf("%w: bad duration %q (want 36h, 90m or up to 3650d)", ErrInvalid, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: bad duration %q (want 36h, 90m or up to 3650d)", ErrInvalid, s)
	}
	return d, nil
}

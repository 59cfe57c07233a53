package audit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Exit codes of RunCLI.
const (
	ExitOK     = 0 // done; for verify: the trail is intact
	ExitBroken = 1 // verify found a break
	ExitError  = 2 // bad usage or the store could not be read
)

// RunCLI runs "adfscim audit <verify|export|expire|public-key> [flags]"; args are the
// words after "audit". It writes results to stdout and diagnostics to stderr
// and returns the process exit code. main opens the store from the
// configuration and passes it in.
//
//	audit verify [-from 2026-01-01] [-to 2026-12-31] [-anchor seq:hash]... [-checkpoints [-public-key pub.pem]...] [-json]
//	audit export [-since 2026-01-01|RFC3339] [-format jsonl|csv]
//	audit expire -before 2025-11-01 [-actor name]
//	audit public-key
func RunCLI(ctx context.Context, args []string, s store.Store, stdout, stderr io.Writer) int {
	return RunCLIWith(ctx, args, s, CLIOptions{}, stdout, stderr)
}

// CLIOptions plugs the signed checkpoints, kept outside the trail by
// another package, into the audit commands. A nil hook makes the feature
// that needs it an error.
type CLIOptions struct {
	// Checkpoints reads and checks the checkpoints against the public
	// keys in pemFiles (none: the configured key) for verify -checkpoints.
	Checkpoints func(ctx context.Context, pemFiles []string) (CheckpointReport, error)
	// PublicKey returns the checkpoint key's public part as PEM.
	PublicKey func(ctx context.Context) ([]byte, error)
}

// CheckpointReport is what the checkpoints say, checked on their own:
// how many there are, problems with their signatures or their chain, and
// the records they vouch for (Anchors), which verify then looks for in the
// trail.
type CheckpointReport struct {
	Where      string   `json:"where"`
	Count      int      `json:"count"`
	First      uint64   `json:"first,omitempty"`
	Last       uint64   `json:"last,omitempty"`
	LastTime   string   `json:"lastTime,omitempty"`
	CoveredSeq uint64   `json:"coveredSeq,omitempty"`
	Problems   []string `json:"problems,omitempty"`
	Notes      []string `json:"notes,omitempty"`
	Anchors    []Anchor `json:"-"`
}

// RunCLIWith is RunCLI with the checkpoint hooks: it adds
// "verify -checkpoints [-public-key pub.pem]" and "public-key".
func RunCLIWith(ctx context.Context, args []string, s store.Store, opt CLIOptions, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: adfscim audit verify|export|expire|public-key [flags]")
		return ExitError
	}
	switch args[0] {
	case "verify":
		return cliVerify(ctx, args[1:], s, opt, stdout, stderr)
	case "export":
		return cliExport(ctx, args[1:], s, stdout, stderr)
	case "expire":
		return cliExpire(ctx, args[1:], s, stdout, stderr)
	case "public-key":
		return cliPublicKey(ctx, args[1:], opt, stdout, stderr)
	}
	fmt.Fprintf(stderr, "adfscim audit: unknown command %q (want verify, export, expire or public-key)\n", args[0])
	return ExitError
}

func cliPublicKey(ctx context.Context, args []string, opt CLIOptions, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit public-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adfscim audit public-key > pub.pem\n\nPrints the public key that checks the audit checkpoints' signatures, as PEM.")
	}
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if opt.PublicKey == nil {
		fmt.Fprintln(stderr, "audit public-key: no checkpoint key is configured")
		return ExitError
	}
	b, err := opt.PublicKey(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "audit public-key: %v\n", err)
		return ExitError
	}
	if _, err := stdout.Write(b); err != nil {
		return ExitError
	}
	return ExitOK
}

// parseExit is the exit code of a flag parse error: -h is a question
// answered (the usage is printed), anything else bad usage.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitError
}

// timeFlag parses a date (2006-01-02, UTC midnight) or an RFC 3339 time.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) (err error) {
	f.t, err = ParseTime(v)
	return err
}

// ParseTime reads a time bound of a query, as the CLI and GET
// /ops/v1/audit take it: a date (2006-01-02, UTC midnight) or an RFC 3339
// time.
func ParseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("want a date (2006-01-02) or an RFC 3339 time, got %q", v)
}

// anchorFlag collects -anchor seq:hash values.
type anchorFlag []Anchor

func (f *anchorFlag) String() string { return fmt.Sprint(len(*f), " anchors") }

func (f *anchorFlag) Set(v string) error {
	a, err := ParseAnchor(v)
	if err != nil {
		return err
	}
	*f = append(*f, a)
	return nil
}

// stringsFlag collects the values of a repeatable flag.
type stringsFlag []string

func (f *stringsFlag) String() string { return fmt.Sprint(*f) }

func (f *stringsFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

func cliVerify(ctx context.Context, args []string, s store.Store, opt CLIOptions, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var from, to timeFlag
	fs.Var(&from, "from", "first day to check (default: the oldest kept day)")
	fs.Var(&to, "to", "last day to check (default: the newest)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var anchors anchorFlag
	fs.Var(&anchors, "anchor", "seq:hash of a record noted earlier that must still be in the trail (repeatable)")
	withCheckpoints := fs.Bool("checkpoints", false, "also check the trail against every signed checkpoint (ADFSCIM_CHECKPOINT_BLOB_URL, or the data directory's file)")
	var pemFiles stringsFlag
	fs.Var(&pemFiles, "public-key", "PEM file with the checkpoints' public key, as adfscim audit public-key prints it (repeatable; default: read the configured key)")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if len(pemFiles) > 0 && !*withCheckpoints {
		fmt.Fprintln(stderr, "audit verify: -public-key needs -checkpoints")
		return ExitError
	}
	var cps *CheckpointReport
	if *withCheckpoints {
		if opt.Checkpoints == nil {
			fmt.Fprintln(stderr, "audit verify: checkpoints are not available here")
			return ExitError
		}
		r, err := opt.Checkpoints(ctx, pemFiles)
		if err != nil {
			fmt.Fprintf(stderr, "audit verify: checkpoints: %v\n", err)
			return ExitError
		}
		cps = &r
		anchors = append(anchors, r.Anchors...)
	}
	res, err := VerifyAnchored(ctx, s, from.t, to.t, anchors...)
	if err != nil {
		fmt.Fprintf(stderr, "audit verify: %v\n", err)
		return ExitError
	}
	ok := res.OK
	if cps != nil {
		if cps.Count == 0 && res.Records > 0 {
			cps.Problems = append(cps.Problems, fmt.Sprintf("no checkpoints at %s, but the trail has %d records", cps.Where, res.Records))
		}
		if cps.CoveredSeq > 0 && res.LastSeq > cps.CoveredSeq {
			cps.Notes = append(cps.Notes, fmt.Sprintf("records %d to %d are newer than the last checkpoint (%d at %s): nothing outside the trail vouches for them yet", cps.CoveredSeq+1, res.LastSeq, cps.Last, cps.LastTime))
		}
		ok = ok && len(cps.Problems) == 0
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = res
		if cps != nil {
			v = struct {
				OK          bool              `json:"ok"`
				Trail       Result            `json:"trail"`
				Checkpoints *CheckpointReport `json:"checkpoints"`
			}{ok, res, cps}
		}
		if err := enc.Encode(v); err != nil {
			return ExitError
		}
	} else {
		if res.OK {
			fmt.Fprintf(stdout, "OK: %d records in %d days (%s to %s), seq %d to %d\n", res.Records, res.Days, res.FirstDay, res.LastDay, res.FirstSeq, res.LastSeq)
		} else {
			fmt.Fprintf(stdout, "BROKEN: %s\n", res.Break)
			fmt.Fprintf(stdout, "checked before the break: %d records in %d days\n", res.Records, res.Days)
		}
		if res.Trust != "" {
			fmt.Fprintf(stdout, "trust: %s\n", res.Trust)
		}
		if res.LastHash != "" {
			fmt.Fprintf(stdout, "last: seq %d hash %s\n", res.LastSeq, res.LastHash)
		}
		if cps != nil {
			if cps.Count > 0 {
				fmt.Fprintf(stdout, "checkpoints: %d (%d to %d, last at %s) at %s, vouching for records up to %d\n", cps.Count, cps.First, cps.Last, cps.LastTime, cps.Where, cps.CoveredSeq)
			}
			for _, p := range cps.Problems {
				fmt.Fprintf(stdout, "BROKEN checkpoints: %s\n", p)
			}
			for _, n := range cps.Notes {
				fmt.Fprintf(stdout, "note: %s\n", n)
			}
		}
	}
	if !ok {
		return ExitBroken
	}
	return ExitOK
}

func cliExport(ctx context.Context, args []string, s store.Store, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var since timeFlag
	fs.Var(&since, "since", "export records at or after this date or time (default: all)")
	format := fs.String("format", FormatJSONL, "jsonl or csv")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if err := Export(ctx, s, since.t, *format, stdout); err != nil {
		fmt.Fprintf(stderr, "audit export: %v\n", err)
		return ExitError
	}
	return ExitOK
}

func cliExpire(ctx context.Context, args []string, s store.Store, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit expire", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var before timeFlag
	fs.Var(&before, "before", "remove the days before this date (required)")
	actor := fs.String("actor", "cli", "actor recorded for the expiry")
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if before.t.IsZero() {
		fmt.Fprintln(stderr, "audit expire: -before is required")
		return ExitError
	}
	res, err := New(s, Options{}).ExpireAs(ctx, before.t, *actor)
	if err != nil {
		fmt.Fprintf(stderr, "audit expire: %v\n", err)
		if errors.Is(err, ErrNotRecorded) {
			fmt.Fprintln(stderr, "nothing was removed: the expiry could not be recorded")
		}
		return ExitError
	}
	fmt.Fprintln(stdout, res)
	return ExitOK
}

// Package loadtest is adfscim's load harness: it provisions users and groups
// through the SCIM API the way Microsoft Entra ID does, then drives a fixed
// number of keep-alive connections against the three requests an IdP sends
// most (filter by userName, POST /Users, PATCH active) and, in the same run,
// against a trivial net/http handler, so every figure can be read as a ratio
// to what the machine can do at all. It reports requests per second, p50 and
// p99 latency, errors, and the server's resident memory beside its store file.
//
// All traffic goes to 127.0.0.1; every loop is bounded in count and in time.
package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Phase names, in the order a full run executes them. users and groups
// provision; filter, post and patch are measured.
const (
	PhaseUsers  = "users"
	PhaseGroups = "groups"
	PhaseFilter = "filter"
	PhasePost   = "post"
	PhasePatch  = "patch"
)

// AllPhases is the default: everything, in order.
var AllPhases = []string{PhaseUsers, PhaseGroups, PhaseFilter, PhasePost, PhasePatch}

// Options configure one run. The zero value of a field means its default.
type Options struct {
	// Target is the SCIM base URL of a running server
	// (http://127.0.0.1:7071/scim/v2). Exactly one of Target and Spawn.
	Target string
	// Spawn is the path of an adfscim binary to start on a free loopback
	// port with a fresh data directory and bearer token; the harness then
	// knows its PID (for memory figures) and stops it at the end.
	Spawn string
	// SpawnEnv is added to the spawned server's environment (e.g.
	// ADFSCIM_LOG_LEVEL=warn).
	SpawnEnv []string
	// DataDir is the spawned server's ADFSCIM_DATA_DIR; a fresh temporary
	// directory, removed afterwards, when empty.
	DataDir string
	// Token is the bearer token. With Spawn it is generated when empty.
	Token string
	// PID and StoreFile name the target server's process and store file when
	// it was not spawned, so memory can still be reported (0/"": skipped).
	PID       int
	StoreFile string

	// Users is N, the users provisioned (default 100000).
	Users int
	// Groups is G, the groups provisioned (default 1000).
	Groups int
	// Members is M, the members of each group (default 100, at most Users).
	Members int
	// MemberBatch is how many members one provisioning PATCH adds (default 10).
	MemberBatch int
	// Connections is C, the concurrent keep-alive connections (default 16).
	Connections int
	// Duration is how long each measured phase runs (default 10s).
	Duration time.Duration
	// ProvisionTimeout bounds the users and groups phases together
	// (default 1h); what is left undone counts as errors.
	ProvisionTimeout time.Duration
	// MaxRequests bounds each measured phase in count as well (default 10,000,000).
	MaxRequests int
	// Seed makes user names, group names and the choice of users repeatable
	// (default 1). Runs against an existing store must use the seed and N
	// that provisioned it.
	Seed int64
	// Phases lists the phases to run (default AllPhases). The trivial
	// handler is measured whenever a measured phase runs.
	Phases []string
	// Trivial places the trivial handler: TrivialProcess (default) runs it
	// as `Self load -serve-trivial`, TrivialInProcess inside the harness.
	Trivial string
	// Self is a binary whose `load` subcommand is Command (default: this
	// process's executable).
	Self string
	// JSON prints the report as one JSON document instead of a table.
	JSON bool
	// PprofURL, when set, is a server's net/http/pprof base
	// (http://127.0.0.1:6060/debug/pprof); a CPU profile of each measured
	// phase is saved into ProfileDir as <phase>.pprof.
	PprofURL   string
	ProfileDir string
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Users, 100000)
	def(&o.Groups, 1000)
	def(&o.Members, 100)
	def(&o.MemberBatch, 10)
	def(&o.Connections, 16)
	def(&o.MaxRequests, 10_000_000)
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.ProvisionTimeout <= 0 {
		o.ProvisionTimeout = time.Hour
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Trivial == "" {
		o.Trivial = TrivialProcess
	}
	if o.Self == "" {
		o.Self, _ = os.Executable()
	}
	if len(o.Phases) == 0 {
		o.Phases = AllPhases
	}
	o.Members = min(o.Members, o.Users)
}

// ErrOptions reports unusable options.
var ErrOptions = errors.New("invalid load options")

func (o *Options) validate() error {
	var errs []error
	if (o.Target == "") == (o.Spawn == "") {
		errs = append(errs, errors.New("give exactly one of a target URL and a binary to spawn"))
	}
	if o.Target != "" {
		if err := loopbackURL(o.Target); err != nil {
			errs = append(errs, fmt.Errorf("target: %w", err))
		}
		if o.Token == "" {
			errs = append(errs, errors.New("a bearer token is needed for a target server"))
		}
	}
	if o.PprofURL != "" {
		if err := loopbackURL(o.PprofURL); err != nil {
			errs = append(errs, fmt.Errorf("pprof: %w", err))
		}
		if o.ProfileDir == "" {
			errs = append(errs, errors.New("a profile directory is needed with a pprof URL"))
		}
	}
	switch o.Trivial {
	case TrivialProcess:
		if o.Self == "" {
			errs = append(errs, errors.New("cannot find this executable to run the trivial handler; use -trivial in-process"))
		}
	case TrivialInProcess:
	default:
		errs = append(errs, fmt.Errorf("-trivial %q: want %s or %s", o.Trivial, TrivialProcess, TrivialInProcess))
	}
	for _, p := range o.Phases {
		switch p {
		case PhaseUsers, PhaseGroups, PhaseFilter, PhasePost, PhasePatch:
		default:
			errs = append(errs, fmt.Errorf("unknown phase %q (want %s)", p, strings.Join(AllPhases, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return nil
}

func (o *Options) runs(phase string) bool {
	for _, p := range o.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// loopbackURL accepts only http URLs on 127.0.0.1: the harness must never
// load anything but this machine.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" {
		return fmt.Errorf("%q: only http:// is supported", raw)
	}
	if u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("%q: the harness only loads 127.0.0.1", raw)
	}
	return nil
}

// ParseFlags reads the `adfscim load` command line into Options. getenv
// supplies SCIM_BEARER_TOKEN as the default token (the caller passes
// os.Getenv or a test's map).
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Options, error) {
	o, _, err := parseFlags(args, getenv, out)
	return o, err
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (o Options, serveTrivial string, err error) {
	var phases string
	fs := flag.NewFlagSet("adfscim load", flag.ContinueOnError)
	fs.SetOutput(out)
	// The same usage shape as every other command's.
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: adfscim load [-spawn ./adfscim | -target URL] [flags]\n\n%s\n\nflags:\n",
			"Drives a server the way Entra ID does (provisioning, then filter, POST and PATCH phases) and reports requests/s, latency, memory and the disk's durable-write ceiling.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Target, "target", "", "SCIM base URL of a running server on 127.0.0.1 (e.g. http://127.0.0.1:7071/scim/v2)")
	fs.StringVar(&o.Spawn, "spawn", "", "path of an adfscim binary to start with a fresh store (instead of -target)")
	fs.Func("spawn-env", "KEY=VALUE added to the spawned server's environment (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		o.SpawnEnv = append(o.SpawnEnv, v)
		return nil
	})
	fs.StringVar(&o.DataDir, "data-dir", "", "data directory for the spawned server (default: a fresh temporary one, removed afterwards)")
	fs.StringVar(&o.Token, "token", getenv("SCIM_BEARER_TOKEN"), "bearer token (SCIM_BEARER_TOKEN; generated for -spawn)")
	fs.IntVar(&o.PID, "pid", 0, "PID of the -target server, for memory figures")
	fs.StringVar(&o.StoreFile, "store-file", "", "store file of the -target server, for its size")
	fs.IntVar(&o.Users, "users", 100000, "users to provision (N)")
	fs.IntVar(&o.Groups, "groups", 1000, "groups to provision (G)")
	fs.IntVar(&o.Members, "members", 100, "members per group (M)")
	fs.IntVar(&o.MemberBatch, "member-batch", 10, "members added per provisioning PATCH")
	fs.IntVar(&o.Connections, "connections", 16, "concurrent keep-alive connections (C)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "duration of each measured phase")
	fs.DurationVar(&o.ProvisionTimeout, "provision-timeout", time.Hour, "upper bound on the users and groups phases together")
	fs.IntVar(&o.MaxRequests, "max-requests", 10_000_000, "upper bound on requests per measured phase")
	fs.Int64Var(&o.Seed, "seed", 1, "seed for names and choices (reuse it to run phases against an existing store)")
	fs.StringVar(&phases, "phases", strings.Join(AllPhases, ","), "comma-separated phases to run")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&o.Trivial, "trivial", TrivialProcess, "where the trivial handler runs: process or in-process")
	fs.StringVar(&serveTrivial, "serve-trivial", "", "internal: serve the trivial handler with the body in this file")
	fs.StringVar(&o.PprofURL, "pprof", "", "server's /debug/pprof base URL; saves a CPU profile per measured phase")
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "directory for the CPU profiles")
	if err := fs.Parse(args); err != nil {
		return o, "", err
	}
	if fs.NArg() > 0 {
		return o, "", fmt.Errorf("%w: unexpected arguments: %s", ErrOptions, strings.Join(fs.Args(), " "))
	}
	o.Phases = nil
	for _, p := range strings.Split(phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.Phases = append(o.Phases, p)
		}
	}
	return o, serveTrivial, nil
}

// Command adfscim is a SCIM 2.0 service provider that turns identity
// provider group membership into Azure RBAC role assignments on Data Factory
// instances. It runs as an Azure Functions custom handler, or locally with
// `go run .` on an embedded store.
//
// This file only wires the parts together: configuration -> store, tokens,
// directory -> HTTP handler, and the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/setup"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/loadtest"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
	"github.com/adfscim/adfscim/internal/tokens"
	"github.com/adfscim/adfscim/internal/tokens/keyvault"
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

func newLogger(level string, w io.Writer) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// tuneGC collects garbage less often than Go's default, unless GOGC or
// GOMEMLIMIT say otherwise. The live heap is small (about 10 MB with 100,000
// users: the store is a memory-mapped file), so a collection every 4x growth
// instead of 2x costs ~20 MB and gives the request path ~20 % more CPU
// (docs/BENCHMARKS.md); the soft memory limit keeps a burst from growing the
// heap without bound.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(512 << 20)
	}
}

// newDirectory builds the directory with the extension schemas declared in
// ADFSCIM_SCHEMA_EXTENSIONS, which it also returns (users' then groups').
func newDirectory(cfg config.Config, st store.Store) (*directory.Service, []*scim.Schema, error) {
	userExt, groupExt, err := scim.ParseExtensions([]byte(cfg.SchemaExtensions))
	if err != nil {
		return nil, nil, fmt.Errorf("ADFSCIM_SCHEMA_EXTENSIONS: %w", err)
	}
	dir := directory.New(st, directory.Options{UserExtensions: userExt, GroupExtensions: groupExt})
	return dir, append(userExt, groupExt...), nil
}

// openEngine opens the configured engine: Table Storage when configured,
// else the embedded store in the data directory. Commands use openStore.
func openEngine(ctx context.Context, cfg config.Config) (store.Store, string, error) {
	switch {
	case cfg.TablesConnectionString != "":
		st, err := tables.Open(ctx, tables.Options{ConnectionString: cfg.TablesConnectionString, Tables: deploy.Tables()})
		if err != nil {
			return nil, "", err
		}
		return st, "table storage (connection string)", nil
	case cfg.TablesEndpoint != "":
		cred, err := azureCredential(cfg)
		if err != nil {
			return nil, "", err
		}
		st, err := tables.Open(ctx, tables.Options{Endpoint: cfg.TablesEndpoint, Credential: cred, Tables: deploy.Tables()})
		if err != nil {
			return nil, "", err
		}
		return st, "table storage " + cfg.TablesEndpoint, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(cfg.DataDir, "adfscim.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		return nil, "", err
	}
	return st, "embedded store " + path, nil
}

// withStore opens the configured store, runs fn with it and closes it: the
// frame of every command that works on the state.
func withStore(ctx context.Context, cfg config.Config, fn func(cfg config.Config, st store.Store, where string) error) error {
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cfg, st, where)
}

// packageCommand builds the zip Azure Functions deploys.
func packageCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("package", "package [-out dist]", "Builds adfscim.zip, the package Azure Functions deploys, from the repository.", 0, stderr)
	out := c.fs.String("out", "dist", "directory that receives adfscim.zip")
	if _, err := c.load(args, func(string) string { return "" }); err != nil {
		return err
	}
	root, err := deploy.FindRepoRoot(".")
	if err != nil {
		return err
	}
	zip, err := deploy.Package(ctx, deploy.Options{RepoRoot: root, OutDir: *out})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, zip)
	return nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("serve", "[serve] [flags]", "Serves the SCIM API and the operations API; logs are JSON lines on stdout.", config.AllFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel, stdout)
	// The first line says which world this instance acts on.
	log.Info().Str("store", cfg.StoreName()).Str("arm", cfg.ARMName()).Msg("adfscim starting")
	tuneGC(getenv)
	st, where, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	auth, err := openTokens(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	dir, extensions, err := newDirectory(cfg, st)
	if err != nil {
		return err
	}
	trail := audit.New(st, audit.Options{})
	if err := trail.Append(ctx, configRecord(cfg, where, extensions)); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	rec, err := openReconciler(ctx, cfg, st, dir, trail, log)
	if err != nil {
		return err
	}
	go probeGraph(ctx, cfg, log)
	// The worker applies queued changes at once and polls for other
	// instances' items; it stops with ctx, before the store closes.
	workerCtx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		rec.Run(workerCtx, 30*time.Second)
	}()
	defer func() { stopWorker(); <-workerDone }()
	access, err := reportBuilder(cfg, st, dir, trail, rec)
	if err != nil {
		return err
	}
	checkpoints := openCheckpoints(ctx, cfg, st, log)
	srv := newHandler(cfg, log, services{dir: dir, auth: auth, trail: trail, rec: rec, report: access, checkpoints: checkpoints})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	url := "http://" + ln.Addr().String() + handlers.ScimPrefix
	log.Info().Str("url", url).Str("store", where).Str("arm", cfg.ARMName()).Msg("adfscim serving")
	if local, ok := auth.(*tokens.Local); ok && cfg.BearerToken == "" {
		// First start of a local deployment: make a token and show it once.
		value, err := local.Bootstrap(ctx)
		if err != nil {
			return err
		}
		if value != "" {
			fmt.Fprintf(stderr, "\nadfscim: SCIM endpoint %s\nadfscim: generated a bearer token for client %q (shown only now; only its digest is kept):\n\n    %s\n\n", url, tokens.BootstrapClient, value)
		}
	}

	if cfg.Pprof != "" {
		// Profiling by hand only: loopback, never in the default mux.
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			err := (&http.Server{Addr: cfg.Pprof, Handler: pp, ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
			log.Error().Err(err).Msg("pprof server stopped")
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests, then close the store (deferred above).
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = hs.Shutdown(shutdownCtx)
	if checkpoints != nil {
		// The last records of this run are vouched for outside the trail.
		if _, cerr := checkpoints.Write(shutdownCtx); cerr != nil {
			log.Error().Err(cerr).Msg("audit checkpoint at shutdown")
		}
	}
	return err
}

// tokenSource is what both token sources offer.
type tokenSource interface {
	tokens.Authenticator
	tokens.Manager
}

// openTokens selects the token source: Key Vault when KEYVAULT_URL is set
// (refreshed in the background until ctx ends), else the local source on
// the store.
func openTokens(ctx context.Context, cfg config.Config, st store.Store, log zerolog.Logger) (tokenSource, error) {
	if cfg.KeyVaultURL == "" {
		return tokens.NewLocal(st, tokens.LocalOptions{StaticToken: cfg.BearerToken})
	}
	cred, err := azureCredential(cfg)
	if err != nil {
		return nil, err
	}
	kv, err := azsecrets.NewClient(cfg.KeyVaultURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("key vault: %w", err)
	}
	src, err := keyvault.New(kv, keyvault.Options{Interval: cfg.TokenRefresh, Grace: cfg.TokenGrace, Logger: &log})
	if err != nil {
		return nil, err
	}
	go src.Run(ctx)
	return src, nil
}

// services are the parts the HTTP layer serves.
type services struct {
	dir    *directory.Service
	auth   tokens.Authenticator
	trail  *audit.Log
	rec    *rbac.Reconciler
	report handlers.Reporter
	// checkpoints, when set, writes a signed checkpoint of the trail
	// after every ReconcileRbac run.
	checkpoints *checkpoint.Writer
}

// newHandler wires the HTTP layer to the services: SCIM writes are audited
// and queue their access changes for the reconciler, the operations API and
// the ReconcileRbac timer are served. serve and the end-to-end tests use it.
func newHandler(cfg config.Config, log zerolog.Logger, sv services) *handlers.Server {
	return handlers.New(handlers.Options{
		Directory:  sv.dir,
		Auth:       sv.auth,
		Limiter:    tokens.NewFailureLimiter(tokens.LimiterOptions{}),
		Audit:      sv.trail,
		AuditQuery: sv.trail,
		Access:     sv.rec,
		RBAC:       sv.rec,
		Report:     sv.report,
		Review:     reviewer(sv.report),
		Logger:     log,
		BaseURL:    cfg.BaseURL,
		Timers: map[string]handlers.TimerFunc{
			"ReconcileRbac": setup.OnTimer(reconcileTimer(sv.rec, sv.trail, cfg.AuditRetentionDays, log), sv.checkpoints),
		},
	})
}

// reconcileTimer is the ReconcileRbac timer: a full reconcile under the
// lease (skipped, not failed, when another instance holds it), then the
// audit trail's retention.
func reconcileTimer(rec *rbac.Reconciler, trail *audit.Log, retentionDays int, log zerolog.Logger) handlers.TimerFunc {
	return func(ctx context.Context, pastDue bool) ([]string, error) {
		log.Info().Bool("past_due", pastDue).Msg("reconcile timer fired")
		var logs []string
		rep, err := rec.Reconcile(ctx, nil)
		switch {
		case errors.Is(err, rbac.ErrLeaseHeld):
			logs = append(logs, "reconcile skipped: another instance holds the lease")
		case err != nil:
			return logs, fmt.Errorf("reconcile: %w", err)
		default:
			logs = append(logs, fmt.Sprintf("reconcile: %d pending items, %d created, %d deleted, %d failed, %d drift",
				rep.Items, rep.Created, rep.Deleted, rep.Failed, len(rep.Plan.Drift)))
		}
		if retentionDays > 0 {
			res, err := trail.Expire(ctx, time.Now().AddDate(0, 0, -retentionDays))
			if err != nil {
				return logs, fmt.Errorf("audit retention: %w", err)
			}
			logs = append(logs, fmt.Sprintf("audit retention: %+v", res))
		}
		return logs, nil
	}
}

// openReconciler builds the RBAC reconciler: the mapping, ARM (Azure, or
// the simulated one in the store), principal resolution, and the audit
// records of everything it applies.
func openReconciler(ctx context.Context, cfg config.Config, st store.Store, dir *directory.Service, trail *audit.Log, log zerolog.Logger) (*rbac.Reconciler, error) {
	mapping, resolver, err := loadMapping(cfg)
	if err != nil {
		return nil, err
	}
	armOpts := rbac.ARMOptions{Cloud: rbac.CloudConfig(cfg.ARMEndpoint, cfg.ARMEndpoint, "")}
	var arm *rbac.ARM
	if cfg.ARM == config.ARMAzure {
		cred, err := azureCredential(cfg)
		if err != nil {
			return nil, err
		}
		armOpts.Credential = cred
		if arm, err = rbac.NewARM(armOpts); err != nil {
			return nil, err
		}
	} else {
		if arm, _, err = rbac.NewLocalARM(st, armOpts); err != nil {
			return nil, err
		}
	}
	return rbac.New(rbac.Options{
		Mapping:   mapping,
		Directory: rbac.FromDirectory(dir),
		ARM:       arm,
		Store:     st,
		Resolver:  resolver,
		Logger:    &log,
		OnApplied: func(ctx context.Context, rep rbac.Report) {
			for _, res := range rep.Results {
				ev := log.Info()
				if res.Error != "" {
					ev = log.Error().Str("error", res.Error)
				}
				a := res.Assignment
				ev.Str("op", res.Op).Str("scope", a.Scope).Str("principal", a.PrincipalID).Str("role", a.RoleID).Msg("role assignment")
			}
			if err := trail.Append(ctx, report.AuditRecords(rep)...); err != nil {
				log.Error().Err(err).Msg("audit records of role assignment changes not written")
			}
		},
	})
}

// loadMapping reads the mapping (inline, else from its file) and builds the
// principal resolver, the same for the reconciler and the report.
func loadMapping(cfg config.Config) (*rbac.Mapping, rbac.Resolver, error) {
	src := cfg.Mapping
	if src == "" {
		src = cfg.MappingFile
	}
	mapping, err := rbac.MappingOptions{OperatorRoleID: cfg.OperatorRoleID}.Load(src)
	if err != nil {
		return nil, rbac.Resolver{}, fmt.Errorf("mapping: %w", err)
	}
	resolver := rbac.Resolver{Attribute: cfg.PrincipalAttribute}
	if cfg.ARM == config.ARMAzure && cfg.GraphEndpoint != "" {
		cred, err := azureCredential(cfg)
		if err != nil {
			return nil, rbac.Resolver{}, err
		}
		resolver.Graph = &rbac.GraphOptions{Endpoint: cfg.GraphEndpoint, Credential: cred}
	}
	return mapping, resolver, nil
}

// probeGraph checks once, at start, that the identity may look principals
// up in Microsoft Graph, and logs clearly when Graph refuses (401/403): a
// missing User.Read.All then shows before the first push instead of as a
// list of unresolved users later. A probe at start (one request per
// instance start) is chosen over waiting for the first failure because
// pushes whose users all carry object ids would never reveal it.
func probeGraph(ctx context.Context, cfg config.Config, log zerolog.Logger) {
	_, resolver, err := loadMapping(cfg)
	if err != nil || resolver.Graph == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = resolver.ProbeGraph(ctx)
	var denied *rbac.GraphDeniedError
	switch {
	case errors.As(err, &denied):
		log.Error().Int("status", denied.Status).Str("code", denied.Code).Str("graph", cfg.GraphEndpoint).
			Msg("Microsoft Graph denied the principal lookup: grant the managed identity the Graph application permission User.Read.All (docs/deploy.md); until then users without an object id stay unresolved")
	case err != nil:
		log.Warn().Err(err).Str("graph", cfg.GraphEndpoint).Msg("Microsoft Graph could not be checked at start")
	default:
		log.Info().Str("graph", cfg.GraphEndpoint).Msg("Microsoft Graph principal lookup allowed")
	}
}

// rbacCommand runs `adfscim plan` and `adfscim reconcile` against the
// configured store and ARM.
func rbacCommand(ctx context.Context, command string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	about := "Shows what a reconcile would change on the factories' role assignments (a dry run): JSON on a pipe, a summary on a terminal."
	if command == "reconcile" {
		about = "Applies the mapping to the factories' role assignments now: JSON on a pipe, a progress bar and a summary on a terminal."
	}
	c := newCommand(command, command+" [flags]", about, config.StoreFlags|config.RBACFlags, stderr)
	cfg, err := c.load(args, getenv)
	if err != nil {
		return err
	}
	announce(stderr, command, cfg)
	if cfg.Mapping == "" && cfg.MappingFile == "" {
		return errors.New("no mapping: set ADFSCIM_MAPPING or ADFSCIM_MAPPING_FILE, or pass -mapping FILE; without one there is nothing to " + command)
	}
	return withStore(ctx, cfg, func(cfg config.Config, st store.Store, _ string) error {
		dir, _, err := newDirectory(cfg, st)
		if err != nil {
			return err
		}
		rec, err := openReconciler(ctx, cfg, st, dir, audit.New(st, audit.Options{}), newLogger(cfg.LogLevel, stderr))
		if err != nil {
			return err
		}
		return rbac.RunCLI(ctx, rec, command, stdout)
	})
}

// tokenCommands are the subcommands of `adfscim token`.
var tokenCommands = map[string]bool{"create": true, "rotate": true, "list": true, "revoke": true}

// tokenCommand runs `adfscim token create|rotate|list|revoke` on the
// configured source, recording every change in the audit trail. Help and a
// malformed command line are answered before the store is opened.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := newCommand("token", "token create|rotate|list|revoke [flags]", "Manages the SCIM clients' bearer tokens: in Key Vault when KEYVAULT_URL is set, else in the store.", config.StoreFlags, stderr)
	settings, rest := splitFlags(c.fs, args)
	if len(rest) == 0 || helpAsked(rest) || !tokenCommands[rest[0]] {
		// Nothing is opened: the token CLI only parses and prints here.
		words := rest
		if len(rest) > 0 && isHelp(rest[0]) {
			words = nil // its usage, not "unknown command -h"
		}
		err := tokens.RunCLI(ctx, words, nil, stdout, stderr)
		if !helpAsked(rest) {
			return err
		}
		printSettingsFlags(c.fs, stderr)
		return flag.ErrHelp
	}
	cfg, err := c.load(settings, getenv)
	if err != nil {
		return err
	}
	announceTokens(stderr, cfg)
	return withStore(ctx, cfg, func(cfg config.Config, st store.Store, _ string) error {
		return runTokenCLI(ctx, cfg, st, rest, stdout, stderr)
	})
}

// runTokenCLI drives the token CLI on the configured source, every change
// recorded in the audit trail of st.
func runTokenCLI(ctx context.Context, cfg config.Config, st store.Store, args []string, stdout, stderr io.Writer) error {
	var m tokens.Manager
	if cfg.KeyVaultURL == "" {
		src, err := tokens.NewLocal(st, tokens.LocalOptions{})
		if err != nil {
			return err
		}
		m = src
	} else {
		src, err := openTokens(ctx, cfg, st, newLogger(cfg.LogLevel, stderr))
		if err != nil {
			return err
		}
		m = src
	}
	trail := audit.New(st, audit.Options{})
	operator := "cli:" + currentUser()
	m = tokens.Audited(m, func(ctx context.Context, action, client string, scopes []tokens.Scope, err error) error {
		out := audit.Outcome{Success: err == nil}
		if err != nil {
			out.Detail = err.Error()
		}
		var changes []audit.Change
		if len(scopes) > 0 {
			changes = []audit.Change{{Op: "set", Path: "scopes", Value: tokens.FormatScopes(scopes)}}
		}
		return trail.Append(ctx, audit.Record{Actor: operator, Action: action,
			Target: audit.Target{Type: "Token", ID: client}, Changes: changes, Outcome: out})
	})
	return tokens.RunCLI(ctx, args, m, stdout, stderr)
}

// currentUser names the operator running a CLI command, for the trail.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// configRecord is the audit record of a configuration load: what the
// service runs with, never a secret.
func configRecord(cfg config.Config, where string, extensions []*scim.Schema) audit.Record {
	tokenSource := "local"
	if cfg.KeyVaultURL != "" {
		tokenSource = "keyvault " + cfg.KeyVaultURL
	}
	var exts []string
	for _, s := range extensions {
		exts = append(exts, s.ID)
	}
	return audit.Record{
		Actor:  "system",
		Action: audit.ActionConfigLoad,
		Target: audit.Target{Type: "Config", ID: "serve"},
		Changes: []audit.Change{
			{Op: "set", Path: "store", Value: where},
			{Op: "set", Path: "tokens", Value: tokenSource},
			{Op: "set", Path: "staticToken", Value: cfg.BearerToken != ""},
			{Op: "set", Path: "schemaExtensions", Value: exts},
			{Op: "set", Path: "auditRetentionDays", Value: cfg.AuditRetentionDays},
		},
		Outcome: audit.Outcome{Success: true},
	}
}

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
	if errors.Is(err, errUsage) {
		return audit.ExitError, err
	}
	if err != nil {
		return audit.ExitError, err
	}
	opt := setup.CLIOptions(checkpointConfig(cfg))
	if rest[0] == "public-key" {
		// Needs the key, not the store.
		return audit.RunCLIWith(ctx, rest, nil, opt, stdout, stderr), nil
	}
	code := audit.ExitError
	err = withStore(ctx, cfg, func(_ config.Config, st store.Store, _ string) error {
		code = audit.RunCLIWith(ctx, rest, st, opt, stdout, stderr)
		return nil
	})
	return code, err
}

// reportBuilder builds the access report from the reconciler's mapping,
// principal resolution and assignments, the directory and the audit trail.
func reportBuilder(cfg config.Config, st store.Store, dir *directory.Service, trail *audit.Log, rec *rbac.Reconciler) (*report.Builder, error) {
	mapping, resolver, err := loadMapping(cfg)
	if err != nil {
		return nil, err
	}
	return report.New(report.Options{
		Mapping: mapping, Directory: rbac.FromDirectory(dir), Resolver: resolver, ARM: rec, Audit: trail, RevokeTarget: cfg.RevokeTarget,
		Verify: func(ctx context.Context) (audit.Result, error) {
			return audit.Verify(ctx, st, time.Time{}, time.Time{})
		},
	})
}

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
	format := report.FormatJSON
	n := 0
	for f, set := range map[string]bool{report.FormatJSON: *asJSON, report.FormatCSV: *asCSV, report.FormatHTML: *asHTML} {
		if set {
			format, n = f, n+1
		}
	}
	if n > 1 {
		fmt.Fprintln(stderr, "choose one of --json, --csv and --html")
		return errUsage
	}
	announce(stderr, "report", cfg)
	return withStore(ctx, cfg, func(cfg config.Config, st store.Store, _ string) error {
		if *deprov {
			format = report.FormatDeprovisioningCSV
		}
		return writeReport(ctx, cfg, st, format, stdout, stderr)
	})
}

// writeReport builds the access report from the state in st and writes it
// to stdout in format.
func writeReport(ctx context.Context, cfg config.Config, st store.Store, format string, stdout, stderr io.Writer) error {
	dir, _, err := newDirectory(cfg, st)
	if err != nil {
		return err
	}
	trail := audit.New(st, audit.Options{})
	rec, err := openReconciler(ctx, cfg, st, dir, trail, newLogger(cfg.LogLevel, stderr))
	if err != nil {
		return err
	}
	b, err := reportBuilder(cfg, st, dir, trail, rec)
	if err != nil {
		return err
	}
	rep, err := b.Build(ctx)
	if err != nil {
		return err
	}
	return report.Write(stdout, rep, format)
}

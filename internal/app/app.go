package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/setup"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/graph"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

// App is the whole service: the services, the token source, the HTTP
// handler (SCIM API, operations API, the ReconcileRbac timer) and the
// background worker of the reconciler's fast path.
type App struct {
	*Services
	Auth TokenSource
	// Checkpoints writes the trail's signed checkpoints after every
	// ReconcileRbac run and at Close; nil when they are off.
	Checkpoints setup.CheckpointWriter
	// Handler serves every route.
	Handler *handlers.Server
	// Timer is the ReconcileRbac timer, as Handler runs it.
	Timer handlers.TimerFunc

	bg         context.Context    // the background work's, until Close
	stop       context.CancelFunc // ends it
	worker     sync.WaitGroup
	workerOnce sync.Once
}

// New builds the service from cfg: it opens the store (OpenStore), records
// the configuration in the audit trail, selects the token source, opens
// the checkpoints and builds the handler. Background work (Key Vault
// refresh, the Graph probe, the worker once started) runs until Close.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	b, err := OpenStore(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	a, err := b.app(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	return a, nil
}

func (b *Base) app(ctx context.Context) (*App, error) {
	s, err := b.services()
	if err != nil {
		return nil, err
	}
	if err := s.Trail.Append(ctx, configRecord(b.Config, b.Where, s.Extensions)); err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{Services: s, bg: bg, stop: stop}
	if a.Auth, err = b.Tokens(bg); err != nil {
		stop()
		return nil, err
	}
	a.Checkpoints = a.openCheckpoints(ctx)
	a.Timer = setup.OnTimer(a.reconcileTimer(), a.Checkpoints)
	a.Handler = a.newHandler()
	go a.probeGraph(bg)
	return a, nil
}

// newHandler wires the HTTP layer to the services: SCIM writes are audited
// and queue their access changes for the reconciler; the operations API
// and the ReconcileRbac timer are served.
func (a *App) newHandler() *handlers.Server {
	return handlers.New(handlers.Options{
		Directory:  a.Directory,
		Auth:       a.Auth,
		Limiter:    tokens.NewFailureLimiter(tokens.LimiterOptions{}),
		Audit:      a.Trail,
		AuditQuery: a.Trail,
		Access:     a.Reconciler,
		RBAC:       opsRBAC{a.Services},
		Report:     a.Report,
		Review:     a.Report,
		Logger:     a.Log,
		BaseURL:    a.Config.BaseURL,
		Timers:     map[string]handlers.TimerFunc{"ReconcileRbac": a.Timer},

		Entitlements: a.grants(),
	})
}

// grants are the mapping's direct grants (none when it failed to load,
// which Open has reported already).
func (a *App) grants() []rbac.Grant {
	m, _, err := a.Mapping()
	if err != nil {
		return nil
	}
	return m.Grants
}

// opsRBAC is the operations API's view of the reconciler, whose full
// reconcile includes writing its audit records.
type opsRBAC struct{ s *Services }

func (o opsRBAC) Plan(ctx context.Context) (rbac.Plan, error) { return o.s.Reconciler.Plan(ctx) }

func (o opsRBAC) Assignments(ctx context.Context) ([]rbac.Assignment, error) {
	return o.s.Reconciler.Assignments(ctx)
}

func (o opsRBAC) Reconcile(ctx context.Context, progress func(done, total int)) (rbac.Report, error) {
	return o.s.Reconcile(ctx, progress)
}

// StartWorker starts the background worker: it applies queued access
// changes at once and, every poll (none when 0), picks up other
// instances' items. It runs until Close.
func (a *App) StartWorker(poll time.Duration) {
	a.workerOnce.Do(func() {
		a.worker.Add(1)
		go func() {
			defer a.worker.Done()
			a.Reconciler.Run(a.bg, poll)
		}()
	})
}

// Close stops the background work and waits for the worker, writes a last
// checkpoint (the records of this run are vouched for outside the trail),
// then closes the store unless the caller gave it.
func (a *App) Close() error {
	a.stop()
	a.worker.Wait()
	var errs []error
	if err := a.FlushAudit(context.Background()); err != nil {
		errs = append(errs, err)
	}
	if a.Checkpoints != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.Checkpoints.Write(ctx); err != nil {
			errs = append(errs, fmt.Errorf("audit checkpoint at shutdown: %w", err))
		}
	}
	if err := a.Services.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openCheckpoints opens serve's checkpoint writer. Checkpoints off by
// configuration (ErrOff) is said once and nothing more is tried. A key or
// container that cannot be reached now is said too, and opening is tried
// again at every timer run (setup.Lazy), whose failure then shows.
func (a *App) openCheckpoints(ctx context.Context) setup.CheckpointWriter {
	open := func(ctx context.Context) (*checkpoint.Writer, error) {
		w, where, err := setup.Writer(ctx, a.CheckpointConfig(), a.Store)
		if err == nil {
			a.Log.Info().Str("checkpoints", where).Msg("audit checkpoints")
		}
		return w, err
	}
	w, err := open(ctx)
	switch {
	case errors.Is(err, setup.ErrOff):
		a.Log.Warn().Err(err).Msg("audit checkpoints are not written")
		return nil
	case err != nil:
		a.Log.Error().Err(err).Msg("audit checkpoints cannot be written yet; retried at every reconcile timer run")
		return &setup.Lazy{Open: open}
	}
	return w
}

// reconcileTimer is the ReconcileRbac timer: a full reconcile under the
// lease (skipped, not failed, when another instance holds it) with its
// audit records, then the audit trail's retention.
func (a *App) reconcileTimer() handlers.TimerFunc {
	retentionDays := a.Config.AuditRetentionDays
	return func(ctx context.Context, pastDue bool) ([]string, error) {
		a.Log.Info().Bool("past_due", pastDue).Msg("reconcile timer fired")
		var logs []string
		rep, err := a.Reconcile(ctx, nil)
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
			res, err := a.Trail.Expire(ctx, time.Now().AddDate(0, 0, -retentionDays))
			if err != nil {
				return logs, fmt.Errorf("audit retention: %w", err)
			}
			logs = append(logs, fmt.Sprintf("audit retention: %+v", res))
		}
		return logs, nil
	}
}

// probeGraph checks once, at start, that the identity may look principals
// up in Microsoft Graph, and logs clearly when Graph refuses (401/403): a
// missing User.Read.All then shows before the first push instead of as a
// list of unresolved users later. A probe at start (one request per
// instance start) is chosen over waiting for the first failure because
// pushes whose users all carry object ids would never reveal it.
func (a *App) probeGraph(ctx context.Context) {
	if _, _, err := a.Mapping(); err != nil || a.graph == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := a.graph.Probe(ctx)
	var denied *graph.DeniedError
	endpoint := a.Config.GraphEndpoint
	switch {
	case errors.As(err, &denied):
		a.Log.Error().Int("status", denied.Status).Str("code", denied.Code).Str("graph", endpoint).
			Msg("Microsoft Graph denied the principal lookup: grant the managed identity the Graph application permission User.Read.All (docs/deploy.md); until then users without an object id stay unresolved")
	case err != nil:
		a.Log.Warn().Err(err).Str("graph", endpoint).Msg("Microsoft Graph could not be checked at start")
	default:
		a.Log.Info().Str("graph", endpoint).Msg("Microsoft Graph principal lookup allowed")
	}
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

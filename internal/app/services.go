package app

import (
	"context"
	"fmt"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
)

// Services are the parts that work on the state: the directory, the audit
// trail, the reconciler and the access report.
type Services struct {
	*Base
	Directory *directory.Service
	// Extensions are the schema extensions of ADFSCIM_SCHEMA_EXTENSIONS,
	// users' then groups'.
	Extensions []*scim.Schema
	Trail      *audit.Log
	Reconciler *rbac.Reconciler
	Report     *report.Builder
	// roleAudit writes the audit records of what the reconciler applied.
	roleAudit *roleAudit
}

// Open opens the configured store (OpenStore) and builds the services on
// it, for the commands that plan, reconcile or report.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Services, error) {
	b, err := OpenStore(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	s, err := b.services()
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

// services builds the services on b's store.
func (b *Base) services() (*Services, error) {
	cfg := b.Config
	userExt, groupExt, err := scim.ParseExtensions([]byte(cfg.SchemaExtensions))
	if err != nil {
		return nil, fmt.Errorf("ADFSCIM_SCHEMA_EXTENSIONS: %w", err)
	}
	mapping, resolver, err := b.Mapping()
	if err != nil {
		return nil, err
	}
	s := &Services{
		Base: b,
		Directory: directory.New(b.Store, directory.Options{UserExtensions: userExt, GroupExtensions: groupExt,
			CheckUser: mapping.CheckUser, Now: b.opts.Now}),
		Extensions: append(userExt, groupExt...),
		Trail:      audit.New(b.Store, audit.Options{Now: b.opts.Now}),
	}
	s.roleAudit = newRoleAudit(s.Trail, b.Log, b.opts.AuditRetry)
	if s.Reconciler, err = s.reconciler(); err != nil {
		return nil, err
	}
	s.Report, err = report.New(report.Options{
		Mapping: mapping, Directory: rbac.FromDirectory(s.Directory), Resolver: resolver, ARM: s.Reconciler, Audit: s.Trail, RevokeTarget: cfg.RevokeTarget,
		Budget: s.Reconciler.Budget, EndsAttribute: cfg.AccessEndsAttribute, Now: b.opts.Now,
		Verify: func(ctx context.Context) (audit.Result, error) {
			return audit.Verify(ctx, b.Store, time.Time{}, time.Time{})
		},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// reconciler builds the RBAC reconciler: the mapping, ARM (Azure, or the
// simulated one in the store), principal resolution, and the audit records
// of everything it applies.
func (s *Services) reconciler() (*rbac.Reconciler, error) {
	cfg := s.Config
	mapping, resolver, err := s.Mapping()
	if err != nil {
		return nil, err
	}
	armOpts := s.opts.ARM
	armOpts.Cloud = armclient.CloudConfig(cfg.ARMEndpoint, cfg.ARMEndpoint, "")
	var arm *armclient.Client
	if cfg.ARM == config.ARMAzure {
		if armOpts.Credential == nil {
			if armOpts.Credential, err = s.Credential(); err != nil {
				return nil, err
			}
		}
		if arm, err = armclient.New(armOpts); err != nil {
			return nil, err
		}
	} else {
		if arm, _, err = armclient.NewLocal(s.Store, armOpts); err != nil {
			return nil, err
		}
	}
	log := s.Log
	budget := cfg.AssignmentBudget
	if budget == 0 {
		budget = -1 // 0 turns the check off
	}
	return rbac.New(rbac.Options{
		EndsAttribute: cfg.AccessEndsAttribute,
		BudgetShare:   budget,
		Mapping:       mapping,
		Directory:     rbac.FromDirectory(s.Directory),
		ARM:           arm,
		Store:         s.Store,
		Resolver:      resolver,
		Instance:      s.opts.Instance,
		Logger:        &log,
		OnApplied:     s.roleAudit.applied,
		Now:           s.opts.Now,
	})
}

// Reconcile is the full reconcile of `adfscim reconcile`, POST
// /ops/v1/reconcile and the timer: the reconciler's run, then the audit
// records of what it applied, which must be in the trail for the run to
// succeed (see roleAudit).
func (s *Services) Reconcile(ctx context.Context, progress func(done, total int)) (rbac.Report, error) {
	rep, err := s.Reconciler.Reconcile(ctx, progress)
	if ferr := s.roleAudit.flush(ctx); ferr != nil {
		if err == nil {
			err = ferr
		} else {
			err = fmt.Errorf("%w; and %w", err, ferr)
		}
	}
	return rep, err
}

// FlushAudit writes the role-assignment audit records still held, and
// fails while any cannot be written.
func (s *Services) FlushAudit(ctx context.Context) error { return s.roleAudit.flush(ctx) }

// Close closes the store (unless the caller gave it).
func (s *Services) Close() error { return s.Base.Close() }

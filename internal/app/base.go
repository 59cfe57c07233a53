// Package app is adfscim's composition root: it turns a configuration into
// the running parts (store, tokens, directory, audit trail, reconciler,
// access report, checkpoints, HTTP handler, ReconcileRbac timer) in one
// place. serve, every command and the end-to-end tests build through it, so
// the wiring that is tested is the wiring that ships.
//
// Three levels, each built on the one before:
//
//   - Base: the configuration, the process's Azure credential, the mapping
//     (each built once) and the store. Commands that need only the store
//     (export, import, audit, token) stop here.
//   - Services: the directory, the audit trail, the reconciler and the
//     access report on that store (plan, reconcile, report, review).
//   - App: the token source, the checkpoints, the HTTP handler, the
//     ReconcileRbac timer and the background worker (serve).
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit/checkpoint/setup"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/graph"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/dump"
	"github.com/adfscim/adfscim/internal/store/tables"
	"github.com/adfscim/adfscim/internal/tokens"
	"github.com/adfscim/adfscim/internal/tokens/keyvault"
)

// Options are what a caller injects into the wiring; the zero value is
// what serve uses. They replace parts of the world (a store already open,
// an ARM client's transport), never a part of the wiring.
type Options struct {
	// Logger receives the service's logs; the zero value logs nothing.
	Logger zerolog.Logger
	// Store, when set, is used instead of opening the configured engine
	// (a test's shared or counting store); Close leaves it open.
	Store store.Store
	// ARM is the starting point of the ARM client's options when the
	// configuration says ARM=azure: its Cloud is always the configured
	// ARM endpoint, and its Credential, when nil, the process's credential.
	// Tests set Transport (the simulated ARM over TLS), Credential and the limits.
	ARM armclient.Options
	// Instance names this process in the reconciler's claims and lease
	// (default random).
	Instance string
	// AuditRetry is how role-assignment audit records that cannot be
	// written are retried; the zero value is the production backoff.
	AuditRetry Backoff
	// Now is the clock of the directory, the audit trail, the reconciler
	// and the access report (a story told at set times); nil is the wall
	// clock.
	Now func() time.Time
}

// Base is what a process builds once from its configuration: the Azure
// credential and the mapping (on first use), and the store.
type Base struct {
	Config config.Config
	Log    zerolog.Logger
	// Store is the configured engine (or Options.Store); Where says which,
	// for logs and the audit trail.
	Store store.Store
	Where string

	opts      Options
	cred      *Credential
	ownsStore bool

	mappingOnce sync.Once
	mapping     *rbac.Mapping
	resolver    rbac.Resolver
	graph       *graph.Client // the resolver's Lookup, when Graph is configured
	mappingErr  error
}

// OpenStore opens the configured store for a command or serve, refusing a
// store that a forced import began to restore and did not finish: it holds
// part of the old state and part of the backup, which nothing may serve or
// change until `adfscim import --force` with that backup has run to the end.
func OpenStore(ctx context.Context, cfg config.Config, opts Options) (*Base, error) {
	b, err := OpenEngine(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := dump.CheckRestore(ctx, b.Store); err != nil {
		b.Close()
		if errors.Is(err, dump.ErrRestorePending) {
			return nil, fmt.Errorf("refusing to use the %s: %w; %s", b.Where, err, FinishRestore)
		}
		return nil, err
	}
	return b, nil
}

// FinishRestore is the advice for an unfinished restore.
const FinishRestore = "finish it with `adfscim import --force < backup` and that same backup (sha256sum prints its digest); the import is safe to re-run"

// OpenEngine opens the configured engine without OpenStore's check for an
// unfinished restore (import, which is what finishes one): Table Storage
// when configured, else the embedded store in the data directory.
func OpenEngine(ctx context.Context, cfg config.Config, opts Options) (*Base, error) {
	b := &Base{Config: cfg, Log: opts.Logger, opts: opts, cred: NewCredential(cfg)}
	if opts.Store != nil {
		b.Store, b.Where = opts.Store, "store given by the caller"
		return b, nil
	}
	st, where, err := b.openEngine(ctx)
	if err != nil {
		return nil, err
	}
	b.Store, b.Where, b.ownsStore = st, where, true
	return b, nil
}

func (b *Base) openEngine(ctx context.Context) (store.Store, string, error) {
	cfg := b.Config
	switch {
	case cfg.TablesConnectionString != "":
		st, err := tables.Open(ctx, tables.Options{ConnectionString: cfg.TablesConnectionString, Tables: deploy.Tables()})
		if err != nil {
			return nil, "", err
		}
		return st, "table storage (connection string)", nil
	case cfg.TablesEndpoint != "":
		cred, err := b.cred.Get()
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

// Close closes the store, unless the caller gave it.
func (b *Base) Close() error {
	if b.ownsStore {
		return b.Store.Close()
	}
	return nil
}

// Credential returns the process's Azure credential (built on first use).
func (b *Base) Credential() (azcore.TokenCredential, error) { return b.cred.Get() }

// Mapping returns the mapping (inline, else from its file) and the
// principal resolver, read once and shared by the reconciler, the report
// and the Graph probe.
func (b *Base) Mapping() (*rbac.Mapping, rbac.Resolver, error) {
	b.mappingOnce.Do(func() {
		cfg := b.Config
		src := cfg.Mapping
		if src == "" {
			src = cfg.MappingFile
		}
		b.mapping, b.mappingErr = rbac.MappingOptions{OperatorRoleID: cfg.OperatorRoleID}.Load(src)
		if b.mappingErr != nil {
			b.mappingErr = fmt.Errorf("mapping: %w", b.mappingErr)
			return
		}
		b.resolver = rbac.Resolver{Attribute: cfg.PrincipalAttribute}
		if cfg.ARM == config.ARMAzure && cfg.GraphEndpoint != "" {
			cred, err := b.cred.Get()
			if err != nil {
				b.mappingErr = err
				return
			}
			b.graph = &graph.Client{Endpoint: cfg.GraphEndpoint, Credential: cred}
			b.resolver.Lookup = b.graph
		}
	})
	return b.mapping, b.resolver, b.mappingErr
}

// TokenSource is what both token sources offer.
type TokenSource interface {
	tokens.Authenticator
	tokens.Manager
}

// Tokens selects the token source: Key Vault when KEYVAULT_URL is set
// (refreshed in the background until ctx ends), else the local source on
// the store, which accepts the static SCIM_BEARER_TOKEN when one is set.
func (b *Base) Tokens(ctx context.Context) (TokenSource, error) {
	return b.tokens(ctx, b.Config.BearerToken)
}

// TokenManager is the token source for `adfscim token`: Tokens without the
// static token, which the token commands neither need nor check.
func (b *Base) TokenManager(ctx context.Context) (TokenSource, error) {
	return b.tokens(ctx, "")
}

func (b *Base) tokens(ctx context.Context, static string) (TokenSource, error) {
	cfg := b.Config
	if cfg.KeyVaultURL == "" {
		return tokens.NewLocal(b.Store, tokens.LocalOptions{StaticToken: static})
	}
	cred, err := b.cred.Get()
	if err != nil {
		return nil, err
	}
	kv, err := azsecrets.NewClient(cfg.KeyVaultURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("key vault: %w", err)
	}
	log := b.Log
	src, err := keyvault.New(kv, keyvault.Options{Interval: cfg.TokenRefresh, Grace: cfg.TokenGrace, Logger: &log})
	if err != nil {
		return nil, err
	}
	go src.Run(ctx)
	return src, nil
}

// CheckpointConfig says where the audit trail's signed checkpoints live,
// for serve's writer and for `adfscim audit`.
func (b *Base) CheckpointConfig() setup.Config {
	return CheckpointConfig(b.Config, b.cred)
}

// CheckpointConfig is Base.CheckpointConfig for a command that opens no
// store (`adfscim audit public-key`); cred may be nil.
func CheckpointConfig(cfg config.Config, cred *Credential) setup.Config {
	if cred == nil {
		cred = NewCredential(cfg)
	}
	return setup.Config{
		KeyURL: cfg.CheckpointKeyURL, BlobURL: cfg.CheckpointBlobURL, DataDir: cfg.DataDir,
		HostedInAzure: cfg.UsesAzureTables(),
		Credential:    cred.Get,
	}
}

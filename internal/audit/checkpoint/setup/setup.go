// Package setup opens the checkpoint engines that the settings name: the
// Key Vault key or the local key, the blob container or the local file.
// serve writes checkpoints with Writer; `adfscim audit verify -checkpoints`
// and `adfscim audit public-key` read them with CLIOptions.
package setup

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/blob"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/keyvault"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/local"
	"github.com/adfscim/adfscim/internal/store"
)

// Config says where checkpoints live.
type Config struct {
	// KeyURL is the Key Vault key (ADFSCIM_CHECKPOINT_KEY_URL); empty
	// means the local key in DataDir.
	KeyURL string
	// BlobURL is the container (ADFSCIM_CHECKPOINT_BLOB_URL); empty means
	// the local file in DataDir. A URL with a query is taken as a SAS URL
	// and used without Credential.
	BlobURL string
	// DataDir holds the local key and file.
	DataDir string
	// HostedInAzure is set when the trail is on Table Storage in Azure,
	// where the data directory is neither durable nor shared: there both
	// URLs must be set, or no checkpoints are written.
	HostedInAzure bool
	// Credential is called only when a URL needs it.
	Credential func() (azcore.TokenCredential, error)
}

// ErrOff means serve writes no checkpoints with this configuration.
var ErrOff = errors.New("checkpoints off: on Table Storage in Azure, ADFSCIM_CHECKPOINT_KEY_URL and ADFSCIM_CHECKPOINT_BLOB_URL must both be set")

// Writer returns the writer of serve's checkpoints and a description of
// where they go. It creates the local key on first use. With
// HostedInAzure and a URL missing it returns ErrOff.
func Writer(ctx context.Context, c Config, s store.Store) (*checkpoint.Writer, string, error) {
	if c.HostedInAzure && (c.KeyURL == "" || c.BlobURL == "") {
		return nil, "", ErrOff
	}
	signer, err := c.signer(ctx, true)
	if err != nil {
		return nil, "", err
	}
	sink, where, err := c.sink()
	if err != nil {
		return nil, "", err
	}
	return &checkpoint.Writer{Store: s, Sink: sink, Signer: signer}, fmt.Sprintf("%s, signed with %s", where, signer.KeyID()), nil
}

func (c Config) signer(ctx context.Context, create bool) (checkpoint.Signer, error) {
	if c.KeyURL == "" {
		return local.OpenKey(c.DataDir, create)
	}
	vaultURL, name, version, err := keyvault.ParseKeyURL(c.KeyURL)
	if err != nil {
		return nil, err
	}
	cred, err := c.Credential()
	if err != nil {
		return nil, err
	}
	kc, err := azkeys.NewClient(vaultURL, cred, nil)
	if err != nil {
		return nil, err
	}
	return keyvault.Open(ctx, kc, name, version)
}

func (c Config) sink() (checkpoint.Sink, string, error) {
	if c.BlobURL == "" {
		p := filepath.Join(c.DataDir, local.LinesFile)
		return local.File{Path: p}, p, nil
	}
	u, err := url.Parse(c.BlobURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", fmt.Errorf("ADFSCIM_CHECKPOINT_BLOB_URL %q: want https://<account>.blob.core.windows.net/<container>", c.BlobURL)
	}
	where := u.Scheme + "://" + u.Host + u.Path
	if u.RawQuery != "" {
		cc, err := container.NewClientWithNoCredential(c.BlobURL, nil)
		return blobSink(cc, err, where)
	}
	cred, err := c.Credential()
	if err != nil {
		return nil, "", err
	}
	cc, err := container.NewClient(c.BlobURL, cred, nil)
	return blobSink(cc, err, where)
}

func blobSink(cc *container.Client, err error, where string) (checkpoint.Sink, string, error) {
	if err != nil {
		return nil, "", err
	}
	return blob.New(cc), where, nil
}

// PublicKeyPEM is the signing key's public part as PEM: read from Key
// Vault, or from the local key (never created here).
func PublicKeyPEM(ctx context.Context, c Config) ([]byte, error) {
	s, err := c.signer(ctx, false)
	if err != nil {
		return nil, err
	}
	k, err := s.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	return checkpoint.MarshalPublicKey(k)
}

// Check reads every checkpoint and checks them against the public keys in
// the PEM files named (when none, the configured key's public part, read
// from Key Vault or the local key). It is `audit verify -checkpoints`.
func Check(ctx context.Context, c Config, pemFiles []string) (audit.CheckpointReport, error) {
	var keys []*ecdsa.PublicKey
	for _, f := range pemFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return audit.CheckpointReport{}, fmt.Errorf("-public-key: %w", err)
		}
		ks, err := checkpoint.ParsePublicKeys(b)
		if err != nil {
			return audit.CheckpointReport{}, fmt.Errorf("-public-key %s: %w", f, err)
		}
		keys = append(keys, ks...)
	}
	if len(keys) == 0 {
		s, err := c.signer(ctx, false)
		if err != nil {
			return audit.CheckpointReport{}, fmt.Errorf("the checkpoint key (or pass -public-key pub.pem): %w", err)
		}
		k, err := s.PublicKey(ctx)
		if err != nil {
			return audit.CheckpointReport{}, err
		}
		keys = append(keys, k)
	}
	sink, where, err := c.sink()
	if err != nil {
		return audit.CheckpointReport{}, err
	}
	lines, err := sink.List(ctx)
	if err != nil {
		return audit.CheckpointReport{}, fmt.Errorf("read the checkpoints at %s: %w", where, err)
	}
	return Report(checkpoint.CheckChain(lines, keys), where), nil
}

// Report turns a checked chain into what `audit verify` prints.
func Report(ch checkpoint.Chain, where string) audit.CheckpointReport {
	r := audit.CheckpointReport{
		Where: where, Count: ch.Count, First: ch.First, Last: ch.Last,
		CoveredSeq: ch.CoveredSeq, Notes: ch.Notes, Anchors: ch.Anchors,
	}
	if !ch.LastTime.IsZero() {
		r.LastTime = ch.LastTime.UTC().Format(time.RFC3339)
	}
	for _, p := range ch.Problems {
		r.Problems = append(r.Problems, p.String())
	}
	return r
}

// CLIOptions are the hooks of audit.RunCLIWith for c.
func CLIOptions(c Config) audit.CLIOptions {
	return audit.CLIOptions{
		Checkpoints: func(ctx context.Context, pemFiles []string) (audit.CheckpointReport, error) {
			return Check(ctx, c, pemFiles)
		},
		PublicKey: func(ctx context.Context) ([]byte, error) { return PublicKeyPEM(ctx, c) },
	}
}

// OnTimer wraps a timer function so that a checkpoint is written after
// every run, whether the run succeeded or not (its records are covered
// either way). w nil leaves next alone.
// CheckpointWriter writes one checkpoint: a *checkpoint.Writer, or a Lazy
// one that opens its key and container when first needed.
type CheckpointWriter interface {
	Write(ctx context.Context) (checkpoint.Checkpoint, error)
}

// Lazy opens the checkpoint writer on the first Write that succeeds in
// opening it, and tries again on every Write until it does: a Key Vault or
// storage outage when an instance starts (cold starts are frequent on a
// consumption plan) must not leave that instance without checkpoints for
// its whole life. Until it opens, each Write fails and says why, so the
// timer run that should have written a checkpoint fails visibly.
type Lazy struct {
	Open func(ctx context.Context) (*checkpoint.Writer, error)

	mu sync.Mutex
	w  *checkpoint.Writer
}

// Write opens the writer if it is not open yet, then writes a checkpoint.
func (l *Lazy) Write(ctx context.Context) (checkpoint.Checkpoint, error) {
	l.mu.Lock()
	w := l.w
	if w == nil {
		var err error
		if w, err = l.Open(ctx); err != nil {
			l.mu.Unlock()
			return checkpoint.Checkpoint{}, fmt.Errorf("audit checkpoints: %w", err)
		}
		l.w = w
	}
	l.mu.Unlock()
	return w.Write(ctx)
}

// OnTimer wraps the ReconcileRbac timer so that every run, successful or
// not, ends with a checkpoint; a checkpoint that cannot be written fails
// the run. Without a writer (checkpoints off) it is next itself.
func OnTimer(next func(context.Context, bool) ([]string, error), w CheckpointWriter) func(context.Context, bool) ([]string, error) {
	if w == nil {
		return next
	}
	return func(ctx context.Context, pastDue bool) ([]string, error) {
		logs, err := next(ctx, pastDue)
		cp, cerr := w.Write(ctx)
		if cerr == nil {
			logs = append(logs, fmt.Sprintf("audit checkpoint %d written (%d days, up to record %d)", cp.Seq, len(cp.Days), lastSeq(cp)))
		}
		return logs, errors.Join(err, cerr)
	}
}

func lastSeq(cp checkpoint.Checkpoint) uint64 {
	if n := len(cp.Days); n > 0 {
		return cp.Days[n-1].LastSeq
	}
	return 0
}

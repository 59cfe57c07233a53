package main

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/setup"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/store"
)

// checkpointConfig says where the audit trail's signed checkpoints live.
func checkpointConfig(cfg config.Config) setup.Config {
	return setup.Config{
		KeyURL: cfg.CheckpointKeyURL, BlobURL: cfg.CheckpointBlobURL, DataDir: cfg.DataDir,
		HostedInAzure: cfg.UsesAzureTables(),
		Credential:    func() (azcore.TokenCredential, error) { return azureCredential(cfg) },
	}
}

// openCheckpoints opens serve's checkpoint writer; without one (not
// configured, or the key or container cannot be reached) serve runs on
// and says so, since the trail itself is unaffected.
func openCheckpoints(ctx context.Context, cfg config.Config, st store.Store, log zerolog.Logger) *checkpoint.Writer {
	w, where, err := setup.Writer(ctx, checkpointConfig(cfg), st)
	if err != nil {
		log.Warn().Err(err).Msg("audit checkpoints are not written")
		return nil
	}
	log.Info().Str("checkpoints", where).Msg("audit checkpoints")
	return w
}

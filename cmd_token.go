package main

import (
	"context"
	"flag"
	"io"
	"os/user"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/tokens"
)

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
	return withStore(ctx, cfg, stderr, func(b *app.Base) error {
		m, err := b.TokenManager(ctx)
		if err != nil {
			return err
		}
		return tokens.RunCLI(ctx, rest, auditedTokens(m, audit.New(b.Store, audit.Options{})), stdout, stderr)
	})
}

// auditedTokens records every change m makes in trail, by the operator
// running the command.
func auditedTokens(m tokens.Manager, trail *audit.Log) tokens.Manager {
	operator := "cli:" + currentUser()
	return tokens.Audited(m, func(ctx context.Context, action, client string, scopes []tokens.Scope, err error) error {
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
}

// currentUser names the operator running a CLI command, for the trail.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

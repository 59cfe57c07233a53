// Package config reads adfscim's settings: Azure app settings (environment
// variables) first, then command-line flags for humans, which win.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is every setting the server reads.
type Config struct {
	// Listen is the address to serve on. The Functions host sets
	// FUNCTIONS_CUSTOMHANDLER_PORT; locally it is 127.0.0.1:7071.
	Listen string
	// BaseURL is the externally visible SCIM base URL, when a proxy hides it.
	BaseURL string
	// DataDir holds the embedded store (local runs).
	DataDir string
	// BearerToken, when set, is accepted with every scope (local runs,
	// scripts and tests); it is never stored in clear.
	BearerToken string

	// TablesConnectionString selects the Table Storage engine with a shared
	// key (Azurite, or UseDevelopmentStorage=true).
	TablesConnectionString string
	// TablesEndpoint selects the Table Storage engine with a managed identity.
	TablesEndpoint string
	// AzureClientID names a user-assigned managed identity.
	AzureClientID string

	// KeyVaultURL selects the Key Vault token source.
	KeyVaultURL string
	// TokenGrace is how long the last known tokens stay valid while Key
	// Vault cannot be reached.
	TokenGrace time.Duration
	// TokenRefresh is how often the Key Vault token set is re-read.
	TokenRefresh time.Duration

	// Mapping is the inline JSON mapping of groups to roles on factories;
	// MappingFile names a file holding it.
	Mapping     string
	MappingFile string
	// ARMEndpoint and GraphEndpoint override the public cloud's.
	ARMEndpoint   string
	GraphEndpoint string

	// SchemaExtensions is the JSON array of custom extension schemas.
	SchemaExtensions string

	// AuditRetentionDays is how long audit records are kept (0: forever).
	AuditRetentionDays int

	// LogLevel is zerolog's level name.
	LogLevel string

	// Pprof, when set (for profiling by hand), is a loopback address where
	// net/http/pprof is served.
	Pprof string
}

// Load reads the environment through getenv, then the flags in args. It
// returns flag.ErrHelp when -h was asked for (usage already written to out).
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	defaults := make(map[string]string)
	for _, s := range Settings() {
		defaults[s.Name] = s.Default
	}
	env := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return defaults[name]
	}
	var c Config
	var errs []error
	dur := func(name string) time.Duration {
		d, err := time.ParseDuration(env(name))
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration (e.g. 1h, 90s)", name, env(name)))
		}
		return d
	}
	c.Listen = env("ADFSCIM_LISTEN")
	if port := env("FUNCTIONS_CUSTOMHANDLER_PORT"); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT=%q is not a port", port))
		}
		c.Listen = net.JoinHostPort("127.0.0.1", port)
	}
	c.BaseURL = env("ADFSCIM_BASE_URL")
	c.DataDir = env("ADFSCIM_DATA_DIR")
	c.BearerToken = env("SCIM_BEARER_TOKEN")
	c.TablesConnectionString = env("TABLES_CONNECTION_STRING")
	c.TablesEndpoint = env("TABLES_ENDPOINT")
	c.AzureClientID = env("AZURE_CLIENT_ID")
	c.KeyVaultURL = env("KEYVAULT_URL")
	c.TokenGrace = dur("ADFSCIM_TOKEN_GRACE")
	c.TokenRefresh = dur("ADFSCIM_TOKEN_REFRESH")
	c.Mapping = env("ADFSCIM_MAPPING")
	c.MappingFile = env("ADFSCIM_MAPPING_FILE")
	c.ARMEndpoint = env("ADFSCIM_ARM_ENDPOINT")
	c.GraphEndpoint = env("ADFSCIM_GRAPH_ENDPOINT")
	c.SchemaExtensions = env("ADFSCIM_SCHEMA_EXTENSIONS")
	days, err := strconv.Atoi(env("ADFSCIM_AUDIT_RETENTION_DAYS"))
	if err != nil || days < 0 {
		errs = append(errs, fmt.Errorf("ADFSCIM_AUDIT_RETENTION_DAYS=%q is not a number of days", env("ADFSCIM_AUDIT_RETENTION_DAYS")))
	}
	c.AuditRetentionDays = days
	c.LogLevel = env("ADFSCIM_LOG_LEVEL")
	c.Pprof = env("ADFSCIM_PPROF_LISTEN")

	fs := flag.NewFlagSet("adfscim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Listen, "listen", c.Listen, "listen address (ADFSCIM_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "embedded store directory (ADFSCIM_DATA_DIR)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "external SCIM base URL (ADFSCIM_BASE_URL)")
	fs.StringVar(&c.MappingFile, "mapping", c.MappingFile, "mapping file (ADFSCIM_MAPPING_FILE)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level (ADFSCIM_LOG_LEVEL)")
	fs.StringVar(&c.Pprof, "pprof", c.Pprof, "serve net/http/pprof on this loopback address (ADFSCIM_PPROF_LISTEN)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if c.Pprof != "" {
		host, _, err := net.SplitHostPort(c.Pprof)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("-pprof %q: only a loopback address (127.0.0.1:port) is allowed", c.Pprof))
		}
	}
	if c.TablesConnectionString != "" && c.TablesEndpoint != "" {
		errs = append(errs, errors.New("set TABLES_CONNECTION_STRING or TABLES_ENDPOINT, not both"))
	}
	return c, errors.Join(errs...)
}

// UsesTableStorage reports whether the Table Storage engine is configured.
func (c Config) UsesTableStorage() bool {
	return c.TablesConnectionString != "" || c.TablesEndpoint != ""
}

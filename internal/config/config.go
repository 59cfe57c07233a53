// Package config reads adfscim's settings: Azure app settings (environment
// variables) first, then command-line flags for humans, which win.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
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

	// ARM is "azure" or "simulated": where role assignments go. Unset, it
	// is simulated on the embedded store (or Azurite) and azure on Table
	// Storage in Azure, so no command acts on a simulated world next to real
	// state by accident (see Load).
	ARM string
	// AllowSimulatedARM is the -allow-simulated-arm flag: the only way to
	// use the simulated ARM on Table Storage in Azure.
	AllowSimulatedARM bool
	// OperatorRoleID is the GUID of the custom "Data Factory Pipeline
	// Operator" role that infra/main.bicep creates; the mapping resolves
	// the role name PipelineOperator to it.
	OperatorRoleID string
	// PrincipalAttribute names the extension attribute holding a user's
	// Entra object id.
	PrincipalAttribute string
	// AccessEndsAttribute names the user attribute holding a person's end
	// date (empty: none).
	AccessEndsAttribute string
	// AssignmentBudget is the share of the 5,000 role assignments per
	// subscription creates stop short of (0: no check).
	AssignmentBudget float64

	// SchemaExtensions is the JSON array of custom extension schemas.
	SchemaExtensions string

	// AuditRetentionDays is how long audit records are kept (0: forever).
	AuditRetentionDays int

	// RevokeTarget is the time within which a loss of access should be
	// carried out in Azure; the deprovisioning evidence lists slower ones
	// as breaches.
	RevokeTarget time.Duration
	// CheckpointKeyURL is the Key Vault key that signs the audit trail's
	// checkpoints; CheckpointBlobURL the container they go to. Unset, a
	// local key and file in DataDir are used.
	CheckpointKeyURL  string
	CheckpointBlobURL string

	// LogLevel is zerolog's level name.
	LogLevel string

	// Pprof, when set (for profiling by hand), is a loopback address where
	// net/http/pprof is served.
	Pprof string
}

// FlagGroup selects which settings a command takes as flags.
type FlagGroup int

const (
	// StoreFlags are the flags of every command that opens the store:
	// -data-dir and -log-level.
	StoreFlags FlagGroup = 1 << iota
	// RBACFlags are the flags of the commands that read the mapping and
	// reach ARM: -mapping, -arm and -allow-simulated-arm.
	RBACFlags
	// ServeFlags are serve's own: -listen, -base-url and -pprof.
	ServeFlags
	// AllFlags is every flag.
	AllFlags = StoreFlags | RBACFlags | ServeFlags
)

// Flags are the settings a person may give on the command line. A flag that
// is given wins over its environment variable; one that is not leaves the
// environment's value alone (so a flag's absence never hides a setting).
type Flags struct {
	fs                                                      *flag.FlagSet
	groups                                                  FlagGroup
	listen, dataDir, baseURL, mapping, logLevel, pprof, arm string
	allowSimulatedARM                                       bool
}

// AddFlags defines the flags of groups on fs and returns them, to be read by
// Load once fs is parsed. A command adds its own flags to the same set, so
// one parse (and one -h) covers both.
func AddFlags(fs *flag.FlagSet, groups FlagGroup) *Flags {
	f := &Flags{fs: fs, groups: groups}
	if groups&StoreFlags != 0 {
		fs.StringVar(&f.dataDir, "data-dir", "", "embedded store directory (ADFSCIM_DATA_DIR, default ./.adfscim)")
		fs.StringVar(&f.logLevel, "log-level", "", "log level: debug, info, warn, error (ADFSCIM_LOG_LEVEL, default info)")
	}
	if groups&RBACFlags != 0 {
		fs.StringVar(&f.mapping, "mapping", "", "mapping file, or inline JSON; wins over ADFSCIM_MAPPING and ADFSCIM_MAPPING_FILE")
		fs.StringVar(&f.arm, "arm", "", "where role assignments go: azure or simulated (ADFSCIM_ARM; default simulated on the embedded store or Azurite, azure on Table Storage in Azure)")
		fs.BoolVar(&f.allowSimulatedARM, "allow-simulated-arm", false, "allow the simulated ARM on Table Storage in Azure (refused without this flag)")
	}
	if groups&ServeFlags != 0 {
		fs.StringVar(&f.listen, "listen", "", "listen address (ADFSCIM_LISTEN, default 127.0.0.1:7071)")
		fs.StringVar(&f.baseURL, "base-url", "", "external SCIM base URL (ADFSCIM_BASE_URL)")
		fs.StringVar(&f.pprof, "pprof", "", "serve net/http/pprof on this loopback address (ADFSCIM_PPROF_LISTEN)")
	}
	return f
}

// Load reads the environment through getenv, then the flags in args (every
// flag group). It returns flag.ErrHelp when -h was asked for (usage already
// written to out).
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("adfscim", flag.ContinueOnError)
	fs.SetOutput(out)
	f := AddFlags(fs, AllFlags)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return f.Load(getenv)
}

// Load reads the environment through getenv, then applies the flags that
// were given on the (already parsed) flag set.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
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
	c.ARM = strings.ToLower(env("ADFSCIM_ARM"))
	armFrom := "ADFSCIM_ARM"
	c.OperatorRoleID = strings.ToLower(env("ADFSCIM_OPERATOR_ROLE_ID"))
	if c.OperatorRoleID != "" && !guidRe.MatchString(c.OperatorRoleID) {
		errs = append(errs, fmt.Errorf("ADFSCIM_OPERATOR_ROLE_ID=%q is not a role definition GUID", c.OperatorRoleID))
	}
	c.PrincipalAttribute = env("ADFSCIM_PRINCIPAL_ATTRIBUTE")
	c.AccessEndsAttribute = env("ADFSCIM_ACCESS_ENDS_ATTRIBUTE")
	if c.AccessEndsAttribute == "-" {
		c.AccessEndsAttribute = ""
	}
	if b, err := strconv.ParseFloat(env("ADFSCIM_ASSIGNMENT_BUDGET"), 64); err != nil || b < 0 || b > 1 {
		errs = append(errs, fmt.Errorf("ADFSCIM_ASSIGNMENT_BUDGET=%q is not a share between 0 and 1 (e.g. 0.9)", env("ADFSCIM_ASSIGNMENT_BUDGET")))
	} else {
		c.AssignmentBudget = b
	}
	days, err := strconv.Atoi(env("ADFSCIM_AUDIT_RETENTION_DAYS"))
	if err != nil || days < 0 {
		errs = append(errs, fmt.Errorf("ADFSCIM_AUDIT_RETENTION_DAYS=%q is not a number of days", env("ADFSCIM_AUDIT_RETENTION_DAYS")))
	}
	c.AuditRetentionDays = days
	c.RevokeTarget = dur("ADFSCIM_REVOKE_TARGET")
	if d, err := time.ParseDuration(env("ADFSCIM_REVOKE_TARGET")); err == nil && d == 0 {
		errs = append(errs, fmt.Errorf("ADFSCIM_REVOKE_TARGET=%q must be a positive duration (e.g. 1h, 30m)", env("ADFSCIM_REVOKE_TARGET")))
	}
	c.CheckpointKeyURL = env("ADFSCIM_CHECKPOINT_KEY_URL")
	c.CheckpointBlobURL = env("ADFSCIM_CHECKPOINT_BLOB_URL")
	c.LogLevel = env("ADFSCIM_LOG_LEVEL")
	c.Pprof = env("ADFSCIM_PPROF_LISTEN")

	// The flags that were given win.
	if f.fs != nil {
		f.fs.Visit(func(fl *flag.Flag) {
			switch fl.Name {
			case "listen":
				c.Listen = f.listen
			case "data-dir":
				c.DataDir = f.dataDir
			case "base-url":
				c.BaseURL = f.baseURL
			case "mapping":
				// One mapping source: the flag's, whatever the environment says.
				c.Mapping, c.MappingFile = "", f.mapping
				if strings.HasPrefix(strings.TrimSpace(f.mapping), "{") {
					c.Mapping, c.MappingFile = f.mapping, ""
				}
			case "log-level":
				c.LogLevel = f.logLevel
			case "pprof":
				c.Pprof = f.pprof
			case "arm":
				c.ARM, armFrom = strings.ToLower(f.arm), "-arm"
			case "allow-simulated-arm":
				c.AllowSimulatedARM = f.allowSimulatedARM
			}
		})
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
	switch c.ARM {
	case "":
		c.ARM = ARMSimulated
		if c.UsesAzureTables() {
			c.ARM = ARMAzure
		}
	case ARMAzure:
	case ARMSimulated:
		if c.UsesAzureTables() && !c.AllowSimulatedARM && f.groups&RBACFlags != 0 {
			errs = append(errs, fmt.Errorf("%s=simulated with Table Storage in Azure (%s): role assignments would go to a simulated ARM kept in that store, not to Azure; "+
				"unset it to use Azure, or pass -allow-simulated-arm to do this on purpose", armFrom, c.StoreName()))
		}
	default:
		errs = append(errs, fmt.Errorf("%s=%q must be azure or simulated", armFrom, c.ARM))
	}
	return c, errors.Join(errs...)
}

// The two ARM worlds.
const (
	ARMAzure     = "azure"
	ARMSimulated = "simulated"
)

var guidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// UsesAzureTables reports whether the store is Table Storage in Azure: an
// endpoint, or a connection string that is not the development one
// (Azurite's devstoreaccount1).
func (c Config) UsesAzureTables() bool {
	return c.TablesEndpoint != "" || (c.TablesConnectionString != "" && !IsDevelopmentStorage(c.TablesConnectionString))
}

// IsDevelopmentStorage reports whether a Table Storage connection string
// names the local emulator: UseDevelopmentStorage=true or the well-known
// account devstoreaccount1.
func IsDevelopmentStorage(conn string) bool {
	for _, part := range strings.Split(conn, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "usedevelopmentstorage":
			if strings.EqualFold(strings.TrimSpace(v), "true") {
				return true
			}
		case "accountname":
			if strings.EqualFold(strings.TrimSpace(v), "devstoreaccount1") {
				return true
			}
		}
	}
	return false
}

// StoreName says which store the configuration opens, without a secret:
// "embedded <path>", "tables <endpoint>", or for a connection string the
// account and endpoint it names (never its key).
func (c Config) StoreName() string {
	switch {
	case c.TablesEndpoint != "":
		return "tables " + c.TablesEndpoint
	case c.TablesConnectionString != "":
		account, endpoint := "", ""
		for _, part := range strings.Split(c.TablesConnectionString, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "accountname":
				account = v
			case "tableendpoint":
				endpoint = v
			case "usedevelopmentstorage":
				account = "devstoreaccount1"
			}
		}
		name := "tables (connection string)"
		if account != "" {
			name = "tables account " + account
		}
		if endpoint != "" {
			name += " " + endpoint
		}
		return name
	}
	return "embedded " + filepath.Join(c.DataDir, "adfscim.db")
}

// ARMName says where role assignments go: "simulated (in the store)" or
// "azure <endpoint>".
func (c Config) ARMName() string {
	if c.ARM == ARMAzure {
		return "azure " + c.ARMEndpoint
	}
	return "simulated (in the store)"
}

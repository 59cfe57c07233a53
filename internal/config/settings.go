package config

// Where says in which environment a setting is meant to be set.
type Where string

const (
	// Local settings are for runs on a workstation or in CI only; they must
	// never be set on the Azure Function App (for example a static bearer
	// token or an Azurite connection string).
	Local Where = "local"
	// Azure settings are set on the Function App by infra/main.bicep.
	Azure Where = "azure"
	// Both settings are set by Bicep in Azure and may be set locally too.
	Both Where = "both"
	// Host settings are set by the Azure Functions host (or Core Tools)
	// itself; neither Bicep nor a person sets them.
	Host Where = "host"
)

// InAzure reports whether Bicep must set the setting on the Function App.
func (w Where) InAzure() bool { return w == Azure || w == Both }

// Setting is one environment variable the service reads.
type Setting struct {
	// Name of the environment variable (an app setting in Azure).
	Name string
	// Default applies when the variable is unset or empty; "" means no
	// default (the feature it drives is off, or the setting is required
	// where Where says it belongs).
	Default string
	// Description says what the setting does, in one sentence.
	Description string
	// Where the setting belongs.
	Where Where
}

// Settings returns every setting the service reads, in a stable order. It is
// the single source of truth: the configuration package reads exactly these,
// the Bicep templates set every Azure one, and local.settings.sample.json and
// the docs mention all of them (tests in this package check the last three).
// A fresh slice is returned on each call, so callers may not change the list
// for anyone else.
func Settings() []Setting {
	return []Setting{
		{
			Name:        "FUNCTIONS_CUSTOMHANDLER_PORT",
			Description: "Port the Azure Functions host tells the handler to listen on, on 127.0.0.1; set by the host.",
			Where:       Host,
		},
		{
			Name:        "ADFSCIM_LISTEN",
			Default:     "127.0.0.1:7071",
			Description: "Listen address for local runs, when FUNCTIONS_CUSTOMHANDLER_PORT is not set.",
			Where:       Local,
		},
		{
			Name:        "ADFSCIM_BASE_URL",
			Description: "Externally visible SCIM base URL (https://<host>/scim/v2), used in Location headers and meta.location.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_DATA_DIR",
			Default:     "./.adfscim",
			Description: "Directory of the embedded (bbolt) store used when no Table Storage is configured.",
			Where:       Local,
		},
		{
			Name:        "SCIM_BEARER_TOKEN",
			Description: "A static bearer token (at least 32 characters) accepted with every scope, for local runs, scripts and tests; never set in Azure.",
			Where:       Local,
		},
		{
			Name:        "TABLES_CONNECTION_STRING",
			Description: "Table Storage connection string with an account key, for Azurite only (the Azure account has shared keys off).",
			Where:       Local,
		},
		{
			Name:        "TABLES_ENDPOINT",
			Description: "Table Storage endpoint (https://<account>.table.core.windows.net), reached with the managed identity.",
			Where:       Azure,
		},
		{
			Name:        "AZURE_CLIENT_ID",
			Description: "Client id of the user-assigned managed identity the service uses for Tables, Key Vault and ARM.",
			Where:       Azure,
		},
		{
			Name:        "KEYVAULT_URL",
			Description: "Key Vault holding the bearer tokens (https://<vault>.vault.azure.net/); also read by `adfscim token` on an operator's machine.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_TOKEN_GRACE",
			Default:     "1h",
			Description: "How long the last known tokens stay valid while Key Vault cannot be reached; after that every request fails closed.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_TOKEN_REFRESH",
			Default:     "5m",
			Description: "How often the token set is re-read from Key Vault.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_MAPPING",
			Description: "Inline JSON mapping SCIM groups to a role definition on Data Factory instances; empty grants nothing.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_MAPPING_FILE",
			Description: "File holding the mapping, when ADFSCIM_MAPPING is not set (local runs).",
			Where:       Local,
		},
		{
			Name:        "ADFSCIM_ARM_ENDPOINT",
			Default:     "https://management.azure.com",
			Description: "Azure Resource Manager endpoint for role assignments (change for sovereign clouds).",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_GRAPH_ENDPOINT",
			Description: "Microsoft Graph endpoint for looking up object ids by userPrincipalName; empty turns the lookup off.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_ARM",
			Description: "Where role assignments go: azure (Azure Resource Manager) or simulated (an embedded ARM in the store); unset, simulated on the embedded store or Azurite and azure on Table Storage in Azure, where simulated is refused without the -allow-simulated-arm flag.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_OPERATOR_ROLE_ID",
			Description: "GUID of the custom Data Factory Pipeline Operator role that the mapping's PipelineOperator names; set by Bicep. Unset, it is derived as Bicep does for a deployment in the factories' subscription.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_PRINCIPAL_ATTRIBUTE",
			Description: "Full name of a user extension attribute that carries the Entra object id, when externalId does not (e.g. urn:ietf:params:scim:schemas:extension:contoso:2.0:User:objectId).",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_ACCESS_ENDS_ATTRIBUTE",
			Default:     "urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:accessEndsAt",
			Description: "Full name of a user attribute holding the date-time a person's access ends (declare it, type dateTime, in ADFSCIM_SCHEMA_EXTENSIONS); from then on every binding's access is removed even while the IdP still lists the person, and time-bound and eligible grants end by then; - reads none.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_ASSIGNMENT_BUDGET",
			Default:     "0.9",
			Description: "Share of Azure's 5,000 role assignments per subscription that adfscim's creates stop short of (counted with an unfiltered list at the subscription, which needs Reader there; when the count cannot be read no assignment is created in that subscription); 0 turns the check off.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_SCHEMA_EXTENSIONS",
			Description: "JSON array of custom extension schemas (id, resourceType, attributes) whose attributes are stored, filterable and advertised in /Schemas.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_AUDIT_RETENTION_DAYS",
			Default:     "0",
			Description: "Days audit records are kept before they may be pruned; 0 keeps them forever.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_REVOKE_TARGET",
			Default:     "1h",
			Description: "Time within which a loss of access the identity provider asked for should be carried out in Azure; the report's deprovisioning evidence lists slower ones as breaches.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_CHECKPOINT_KEY_URL",
			Description: "Key Vault key (https://<vault>.vault.azure.net/keys/<name>, EC P-256) that signs the audit trail's checkpoints; unset, a key in the data directory signs them.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_CHECKPOINT_BLOB_URL",
			Description: "Blob container (https://<account>.blob.core.windows.net/<container>, or a read-only SAS URL for an auditor) that receives the audit trail's signed checkpoints; unset, they go to checkpoints.jsonl in the data directory, and on Table Storage in Azure none are written.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_LOG_LEVEL",
			Default:     "info",
			Description: "Log level: debug, info, warn or error.",
			Where:       Both,
		},
		{
			Name:        "ADFSCIM_PPROF_LISTEN",
			Description: "Loopback address (127.0.0.1:port) where net/http/pprof is served, for profiling by hand; empty serves nothing.",
			Where:       Local,
		},
		{
			Name:        "APPLICATIONINSIGHTS_CONNECTION_STRING",
			Description: "Application Insights connection string; the Functions host sends its telemetry there, and so may the service. Empty turns telemetry off.",
			Where:       Azure,
		},
	}
}

// ForbiddenAppSettings are app settings that must not be set on a Flex
// Consumption Function App: the platform owns them and a deployment that sets
// them fails or misbehaves.
func ForbiddenAppSettings() []string {
	return []string{
		"FUNCTIONS_WORKER_RUNTIME",
		"FUNCTIONS_EXTENSION_VERSION",
		"WEBSITE_RUN_FROM_PACKAGE",
		"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
		"WEBSITE_CONTENTSHARE",
		"WEBSITE_CONTENTOVERVNET",
		"WEBSITE_NODE_DEFAULT_VERSION",
	}
}

// Package deploy holds what it takes to run adfscim as an Azure Functions
// custom handler: the list of settings the service reads (the single source
// of truth the configuration, the Bicep templates, local.settings.sample.json
// and the docs are checked against), the functions the host exposes and the
// routes they forward, and Package, which builds the flat zip that Azure
// Functions deploys.
//
// The package reads no environment itself; callers pass Options.
package deploy

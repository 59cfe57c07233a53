package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/adfscim/adfscim/internal/config"
)

// azureCredential is the identity for every Azure call.
//
// Where the platform offers a managed identity endpoint (App Service and
// Functions set IDENTITY_ENDPOINT and IDENTITY_HEADER; Cloud Shell and
// Azure ML set MSI_ENDPOINT) and AZURE_CLIENT_ID names one, only that
// user-assigned managed identity is used: in Azure, authentication is
// predictable and never falls back to something else.
//
// Everywhere else (a workstation, where AZURE_CLIENT_ID may still be set
// from the deployment) azidentity's default chain is used: it tries the
// managed identity named by AZURE_CLIENT_ID only if IMDS answers a quick
// probe, then the developer's Azure CLI login (and the other developer
// tools), and honours AZURE_AUTHORITY_HOST for sovereign clouds.
//
// Either way a failure says what was tried.
func azureCredential(cfg config.Config) (azcore.TokenCredential, error) {
	// The process environment, not the configuration's: azidentity picks
	// its managed identity source from the same variables.
	hosted := (os.Getenv("IDENTITY_ENDPOINT") != "" && os.Getenv("IDENTITY_HEADER") != "") || os.Getenv("MSI_ENDPOINT") != ""
	if cfg.AzureClientID != "" && hosted {
		mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ID: azidentity.ClientID(cfg.AzureClientID),
		})
		if err != nil {
			return nil, err
		}
		return triedCredential{mi, fmt.Sprintf("the managed identity %s (AZURE_CLIENT_ID) at the platform's identity endpoint", cfg.AzureClientID)}, nil
	}
	chain, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, err
	}
	tried := "azidentity's default chain: environment credentials, workload identity, a managed identity (IMDS), the Azure CLI login (az login), the Azure Developer CLI and Azure PowerShell"
	if cfg.AzureClientID != "" {
		tried = fmt.Sprintf("the managed identity %s (AZURE_CLIENT_ID), which needs IMDS or an App Service identity endpoint, then the Azure CLI login (az login) and the other developer tools of azidentity's default chain", cfg.AzureClientID)
	}
	return triedCredential{chain, tried}, nil
}

// triedCredential wraps a credential so that its error names every way of
// authenticating that was tried.
type triedCredential struct {
	azcore.TokenCredential
	tried string
}

func (c triedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return tok, fmt.Errorf("authentication to Azure failed; tried %s: %w", c.tried, err)
	}
	return tok, nil
}

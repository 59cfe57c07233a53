package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/adfscim/adfscim/internal/config"
)

// Credential is the process's one Azure identity: built on first use from
// the configuration, then shared by every client that needs one (Table
// Storage, Key Vault, ARM, Graph, the checkpoint key and container), so a
// process authenticates once and says once what it tried.
type Credential struct {
	cfg  config.Config
	once sync.Once
	cred azcore.TokenCredential
	err  error
}

// NewCredential returns the credential of cfg; nothing is built until Get.
func NewCredential(cfg config.Config) *Credential { return &Credential{cfg: cfg} }

// Get builds the credential on the first call and returns the same one
// (or the same error) on every call.
func (c *Credential) Get() (azcore.TokenCredential, error) {
	c.once.Do(func() { c.cred, c.err = azureCredential(c.cfg) })
	return c.cred, c.err
}

// azureCredential is the identity for every Azure call.
//
//   - On an Azure host with a managed identity endpoint (App Service and
//     Functions set IDENTITY_ENDPOINT and IDENTITY_HEADER; Cloud Shell and
//     Azure ML set MSI_ENDPOINT), the managed identity named by
//     AZURE_CLIENT_ID and nothing else: authentication in Azure is
//     predictable and never falls back to something else.
//   - Elsewhere with AZURE_CLIENT_ID set (a workstation that has the
//     deployment's settings, or a VM): that managed identity if IMDS
//     answers and gives a token, else the developer's Azure CLI login.
//     azidentity's own chain stops at a managed identity that fails rather
//     than is unavailable, which a network answering IMDS with an error
//     (a proxy, a VM without that identity) turns into a dead end.
//   - Without AZURE_CLIENT_ID: azidentity's default chain (environment,
//     workload identity, managed identity, Azure CLI, ...), which honours
//     AZURE_AUTHORITY_HOST for sovereign clouds.
//
// Whichever it is, a failure says what was tried. The process environment
// is read, not the configuration's getenv: azidentity picks its managed
// identity source from the same variables.
func azureCredential(cfg config.Config) (azcore.TokenCredential, error) {
	hosted := (os.Getenv("IDENTITY_ENDPOINT") != "" && os.Getenv("IDENTITY_HEADER") != "") || os.Getenv("MSI_ENDPOINT") != ""
	if cfg.AzureClientID == "" {
		dac, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, err
		}
		return &fallbackCredential{sources: []credentialSource{{"azidentity's default chain (environment, workload identity, managed identity, Azure CLI, Azure Developer CLI, Azure PowerShell)", dac}}}, nil
	}
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ID: azidentity.ClientID(cfg.AzureClientID),
	})
	if err != nil {
		return nil, err
	}
	miName := fmt.Sprintf("the managed identity %s (AZURE_CLIENT_ID)", cfg.AzureClientID)
	if hosted {
		return &fallbackCredential{sources: []credentialSource{{miName + " at the platform's identity endpoint", mi}}}, nil
	}
	cli, err := azidentity.NewAzureCLICredential(nil)
	if err != nil {
		return nil, err
	}
	return &fallbackCredential{sources: []credentialSource{
		{miName + " through IMDS", &imdsProbed{cred: mi}},
		{"the Azure CLI login (az login)", cli},
	}}, nil
}

// credentialSource is one way of authenticating, named for error messages.
type credentialSource struct {
	name string
	cred azcore.TokenCredential
}

// fallbackCredential tries its sources in turn until one gives a token, and
// then keeps to that one. Its error names every source and why it failed.
type fallbackCredential struct {
	sources []credentialSource
	mu      sync.Mutex
	chosen  azcore.TokenCredential
}

func (c *fallbackCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	chosen := c.chosen
	c.mu.Unlock()
	if chosen != nil {
		return chosen.GetToken(ctx, opts)
	}
	var (
		names, errs []string
		last        error
	)
	for _, s := range c.sources {
		tok, err := s.cred.GetToken(ctx, opts)
		if err == nil {
			c.mu.Lock()
			c.chosen = s.cred
			c.mu.Unlock()
			return tok, nil
		}
		if ctx.Err() != nil {
			return tok, err
		}
		if last != nil {
			errs = append(errs, names[len(names)-1]+": "+last.Error())
		}
		names, last = append(names, s.name), err
	}
	// Every failure but the last as text, the last wrapped.
	errs = append(errs, names[len(names)-1])
	return azcore.AccessToken{}, fmt.Errorf("authentication to Azure failed; tried %s:\n%s: %w",
		strings.Join(names, ", then "), strings.Join(errs, "\n"), last)
}

// imdsEndpoint is where a VM's managed identity answers.
const imdsEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// imdsProbed asks a managed identity credential for a token only if IMDS
// answers at all: off Azure, IMDS is usually unreachable, and the
// credential's own retries would wait minutes before failing. The probe
// (a request without the Metadata header, which IMDS rejects at once) runs
// once.
type imdsProbed struct {
	cred   azcore.TokenCredential
	once   sync.Once
	answer error
}

func (p *imdsProbed) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	p.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, imdsEndpoint, nil)
		if err != nil {
			p.answer = err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.answer = fmt.Errorf("IMDS did not answer (not an Azure VM): %w", err)
			return
		}
		resp.Body.Close()
	})
	if p.answer != nil {
		return azcore.AccessToken{}, p.answer
	}
	return p.cred.GetToken(ctx, opts)
}

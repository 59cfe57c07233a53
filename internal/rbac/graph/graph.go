// Package graph looks a user's Entra object id up in Microsoft Graph by
// userName (as userPrincipalName): the last source rbac.Resolver asks, when
// neither the externalId nor the configured attribute holds the id. It is
// the rbac core's one dependency on Graph, kept out of the core as each
// outside dependency is.
package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/rbac"
)

// Client looks users up in Microsoft Graph; it implements rbac.Lookup.
type Client struct {
	// Endpoint is the Graph root, e.g. "https://graph.microsoft.com"
	// (sovereign clouds and test servers differ).
	Endpoint string
	// Credential gets the token; the scope is Endpoint + "/.default".
	Credential azcore.TokenCredential
	// HTTP sends the request (default http.DefaultClient).
	HTTP *http.Client
}

var _ rbac.Lookup = (*Client)(nil)

// DeniedError is the error of a Graph request that Graph answered 401 or
// 403: the service's identity may not read users. It is a configuration
// fault, not a property of the user, so it is not rbac.ErrUnresolved; its
// text is what the report's unresolved list shows.
type DeniedError struct {
	// Status is Graph's HTTP status, 401 or 403.
	Status int
	// Code is Graph's error code (e.g. Authorization_RequestDenied), if any.
	Code string
}

func (e *DeniedError) Error() string {
	msg := fmt.Sprintf("Graph denied the lookup (%d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	return msg + "): grant User.Read.All to the service's managed identity (docs/deploy.md)"
}

// denied returns the DeniedError of a 401 or 403 answer, else nil.
func denied(status int, body []byte) error {
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return nil
	}
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &v)
	return &DeniedError{Status: status, Code: v.Error.Code}
}

// get sends an authenticated GET of path (below the root) and returns the
// status and at most 64 KiB of the body.
func (c *Client) get(ctx context.Context, path string) (int, []byte, error) {
	root := strings.TrimSuffix(c.Endpoint, "/")
	tok, err := c.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{root + "/.default"}})
	if err != nil {
		return 0, nil, fmt.Errorf("graph token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+path, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("graph request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, body, nil
}

// Probe checks, once, that the lookup is allowed: it reads one user's id,
// as a lookup does. It returns nil when Graph answers, a *DeniedError when
// Graph refuses the identity, and another error when Graph cannot be
// reached. serve calls it at start so a missing User.Read.All shows before
// the first provisioning push.
func (c *Client) Probe(ctx context.Context) error {
	status, body, err := c.get(ctx, "/v1.0/users?$top=1&$select=id")
	if err != nil {
		return fmt.Errorf("graph probe: %w", err)
	}
	if err := denied(status, body); err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("graph probe: status %d", status)
	}
	return nil
}

// Lookup returns the lower-case object id of the Entra user whose
// userPrincipalName is userName; an error wrapping rbac.ErrUnresolved when
// Graph has no such user, a *DeniedError when Graph refuses the identity.
func (c *Client) Lookup(ctx context.Context, userName string) (string, error) {
	if userName == "" {
		return "", fmt.Errorf("%w: empty userName", rbac.ErrUnresolved)
	}
	// The userName is a path segment: escape it so it cannot change the
	// request (no query, no traversal).
	status, body, err := c.get(ctx, "/v1.0/users/"+url.PathEscape(userName)+"?$select=id")
	if err != nil {
		return "", fmt.Errorf("graph lookup: %w", err)
	}
	if err := denied(status, body); err != nil {
		return "", err
	}
	switch {
	case status == http.StatusNotFound:
		return "", fmt.Errorf("%w: no Entra user %q", rbac.ErrUnresolved, userName)
	case status != http.StatusOK:
		return "", fmt.Errorf("graph lookup of %q: status %d", userName, status)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("graph lookup of %q: %w", userName, err)
	}
	if !rbac.IsGUID(v.ID) {
		return "", fmt.Errorf("%w: graph returned id %q", rbac.ErrUnresolved, v.ID)
	}
	return strings.ToLower(v.ID), nil
}

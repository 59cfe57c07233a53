package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ErrUserNotFound is what Directory.User wraps for a user that does not
// exist (deleted).
var ErrUserNotFound = errors.New("rbac: user not found")

// ErrUnresolved is wrapped by resolution failures: the user has no Entra
// object id that adfscim can find.
var ErrUnresolved = errors.New("rbac: principal not resolvable")

// GraphDeniedError is the error of a Graph lookup that Graph answered 401 or
// 403: the service's identity may not read users. It is a configuration
// fault, not a property of the user, so it is not ErrUnresolved; its text is
// what the report's unresolved list shows.
type GraphDeniedError struct {
	// Status is Graph's HTTP status, 401 or 403.
	Status int
	// Code is Graph's error code (e.g. Authorization_RequestDenied), if any.
	Code string
}

func (e *GraphDeniedError) Error() string {
	msg := fmt.Sprintf("Graph denied the lookup (%d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	return msg + "): grant User.Read.All to the service's managed identity (docs/deploy.md)"
}

// graphDenied returns the GraphDeniedError of a 401 or 403 answer, else nil.
func graphDenied(status int, body []byte) error {
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return nil
	}
	var v struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &v)
	return &GraphDeniedError{Status: status, Code: v.Error.Code}
}

// GraphOptions enables the Microsoft Graph lookup of a user's object id by
// userName (as userPrincipalName).
type GraphOptions struct {
	// Endpoint is the Graph root, e.g. "https://graph.microsoft.com"
	// (sovereign clouds and test servers differ).
	Endpoint string
	// Credential gets the token; the scope is Endpoint + "/.default".
	Credential azcore.TokenCredential
	// Client sends the request (default http.DefaultClient).
	Client *http.Client
}

// Resolver finds a user's Entra object id: the externalId when it is a GUID,
// else the configured extension attribute when it is a GUID, else (when
// Graph is configured) a Graph lookup by userName.
type Resolver struct {
	// Attribute is the full name of the extension attribute holding the
	// object id; empty to skip.
	Attribute string
	// Graph, when non-nil, enables the Graph lookup.
	Graph *GraphOptions
}

// Resolve returns the lower-case object id of u, or an error wrapping
// ErrUnresolved saying why not.
func (r Resolver) Resolve(ctx context.Context, u User) (string, error) {
	if IsGUID(u.ExternalID) {
		return strings.ToLower(u.ExternalID), nil
	}
	if r.Attribute != "" {
		if v := u.Attributes[r.Attribute]; IsGUID(v) {
			return strings.ToLower(v), nil
		}
	}
	if r.Graph == nil || r.Graph.Credential == nil || r.Graph.Endpoint == "" {
		return "", fmt.Errorf("%w: externalId %q is not an object id and no other source is configured", ErrUnresolved, u.ExternalID)
	}
	return r.graphLookup(ctx, u.UserName)
}

// ProbeGraph checks, once, that the Graph lookup is allowed: it reads one
// user's id, as a lookup does. It returns nil when Graph is not configured
// or answers, a *GraphDeniedError when Graph refuses the identity, and
// another error when Graph cannot be reached. serve calls it at start so a
// missing User.Read.All shows before the first provisioning push.
func (r Resolver) ProbeGraph(ctx context.Context) error {
	g := r.Graph
	if g == nil || g.Credential == nil || g.Endpoint == "" {
		return nil
	}
	root := strings.TrimSuffix(g.Endpoint, "/")
	tok, err := g.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{root + "/.default"}})
	if err != nil {
		return fmt.Errorf("graph token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, root+"/v1.0/users?$top=1&$select=id", nil)
	if err != nil {
		return fmt.Errorf("graph request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("graph probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err := graphDenied(resp.StatusCode, body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("graph probe: status %d", resp.StatusCode)
	}
	return nil
}

func (r Resolver) graphLookup(ctx context.Context, userName string) (string, error) {
	if userName == "" {
		return "", fmt.Errorf("%w: empty userName", ErrUnresolved)
	}
	g := r.Graph
	root := strings.TrimSuffix(g.Endpoint, "/")
	tok, err := g.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{root + "/.default"}})
	if err != nil {
		return "", fmt.Errorf("graph token: %w", err)
	}
	// The userName is a path segment: escape it so it cannot change the
	// request (no query, no traversal).
	u := root + "/v1.0/users/" + url.PathEscape(userName) + "?$select=id"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("graph request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("graph lookup: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err := graphDenied(resp.StatusCode, body); err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("%w: no Entra user %q", ErrUnresolved, userName)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("graph lookup of %q: status %d", userName, resp.StatusCode)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("graph lookup of %q: %w", userName, err)
	}
	if !IsGUID(v.ID) {
		return "", fmt.Errorf("%w: graph returned id %q", ErrUnresolved, v.ID)
	}
	return strings.ToLower(v.ID), nil
}

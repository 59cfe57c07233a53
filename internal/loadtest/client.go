package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// client sends SCIM requests over a pool of exactly conns keep-alive
// connections.
type client struct {
	base string // SCIM base URL, no trailing slash
	auth string // "Bearer ..."
	hc   *http.Client
}

func newClient(base, token string, conns int) *client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &client{base: base, auth: "Bearer " + token, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends one request and reads the whole answer into buf, which the caller
// reuses across requests. The returned body aliases buf.
func (c *client) do(ctx context.Context, method, url string, body []byte, buf *bytes.Buffer) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	return resp.StatusCode, buf.Bytes(), nil
}

// filterURL is GET <base>/<endpoint>?filter=<attr> eq "<value>".
func (c *client) filterURL(endpoint, attr, value string) string {
	return c.base + "/" + endpoint + "?filter=" + url.QueryEscape(attr+` eq "`+value+`"`)
}

// listAnswer is the part of a ListResponse the harness reads.
type listAnswer struct {
	TotalResults int `json:"totalResults"`
	Resources    []struct {
		ID string `json:"id"`
	} `json:"Resources"`
}

// resourceAnswer is the part of a resource the harness reads.
type resourceAnswer struct {
	ID string `json:"id"`
}

// lookup runs an eq filter and returns the id of the single match, or ""
// when nothing matches.
func (c *client) lookup(ctx context.Context, endpoint, attr, value string, buf *bytes.Buffer) (string, int, error) {
	status, body, err := c.do(ctx, http.MethodGet, c.filterURL(endpoint, attr, value), nil, buf)
	if err != nil {
		return "", status, err
	}
	if status != http.StatusOK {
		return "", status, statusError(http.MethodGet, endpoint, status, body)
	}
	var l listAnswer
	if err := json.Unmarshal(body, &l); err != nil {
		return "", status, fmt.Errorf("GET /%s filter: %w", endpoint, err)
	}
	switch {
	case l.TotalResults == 0 && len(l.Resources) == 0:
		return "", status, nil
	case l.TotalResults == 1 && len(l.Resources) == 1 && l.Resources[0].ID != "":
		return l.Resources[0].ID, status, nil
	}
	return "", status, fmt.Errorf("GET /%s filter %s eq %q: want 0 or 1 result, got totalResults %d with %d resources", endpoint, attr, value, l.TotalResults, len(l.Resources))
}

// create POSTs body and returns the new resource's id.
func (c *client) create(ctx context.Context, endpoint string, body []byte, buf *bytes.Buffer) (string, int, error) {
	status, answer, err := c.do(ctx, http.MethodPost, c.base+"/"+endpoint, body, buf)
	if err != nil {
		return "", status, err
	}
	if status != http.StatusCreated {
		return "", status, statusError(http.MethodPost, endpoint, status, answer)
	}
	var r resourceAnswer
	if err := json.Unmarshal(answer, &r); err != nil || r.ID == "" {
		return "", status, fmt.Errorf("POST /%s: the answer has no id (%v)", endpoint, err)
	}
	return r.ID, status, nil
}

// statusError describes an unexpected answer, with the start of its body
// (SCIM errors carry a detail that says what went wrong).
func statusError(method, endpoint string, status int, body []byte) error {
	const keep = 300
	if len(body) > keep {
		body = body[:keep]
	}
	return fmt.Errorf("%s /%s: status %d: %s", method, endpoint, status, bytes.TrimSpace(body))
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// Names and bodies. Everything is derived from the seed and an index, so a
// later run with the same seed finds what an earlier one provisioned.

func userName(seed int64, i int) string {
	return "load" + strconv.FormatInt(seed, 10) + "-user" + strconv.Itoa(i) + "@contoso.example"
}

func groupName(seed int64, g int) string {
	return "load" + strconv.FormatInt(seed, 10) + "-group" + strconv.Itoa(g)
}

// objectID is a GUID-shaped externalId, as Entra sends (its object id).
func objectID(seed int64, kind byte, i int) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8000-%012x", uint32(seed), uint16(kind), 0, i)
}

const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaADGroup    = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
	schemaPatchOp    = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// appendUserBody appends the body Entra ID's default attribute mappings POST
// for a new user: core attributes, a work email, and the enterprise
// extension. Names are ASCII letters, digits and "-@.", so they need no JSON
// escaping.
func appendUserBody(b []byte, name, externalID string, i int) []byte {
	n := strconv.Itoa(i)
	b = append(b, `{"schemas":["`+schemaUser+`","`+schemaEnterprise+`"],"externalId":"`...)
	b = append(b, externalID...)
	b = append(b, `","userName":"`...)
	b = append(b, name...)
	b = append(b, `","active":true,"displayName":"Load User `...)
	b = append(b, n...)
	b = append(b, `","title":"Data Engineer","preferredLanguage":"en-US","name":{"formatted":"Load User `...)
	b = append(b, n...)
	b = append(b, `","familyName":"User `...)
	b = append(b, n...)
	b = append(b, `","givenName":"Load"},"emails":[{"primary":true,"type":"work","value":"`...)
	b = append(b, name...)
	b = append(b, `"}],"addresses":[{"type":"work","country":"NL","locality":"Amsterdam","primary":true}],"`+schemaEnterprise+`":{"employeeNumber":"`...)
	b = append(b, n...)
	b = append(b, `","department":"Data Platform","costCenter":"CC-42"}}`...)
	return b
}

// appendGroupBody appends what Entra POSTs for a new group: no members (it
// adds them with PATCH afterwards).
func appendGroupBody(b []byte, name, externalID string) []byte {
	b = append(b, `{"schemas":["`+schemaGroup+`","`+schemaADGroup+`"],"externalId":"`...)
	b = append(b, externalID...)
	b = append(b, `","displayName":"`...)
	b = append(b, name...)
	b = append(b, `","members":[]}`...)
	return b
}

// appendAddMembers appends Entra's membership PATCH: one Add of a batch.
func appendAddMembers(b []byte, ids []string) []byte {
	b = append(b, `{"schemas":["`+schemaPatchOp+`"],"Operations":[{"op":"Add","path":"members","value":[`...)
	for k, id := range ids {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"value":"`...)
		b = append(b, id...)
		b = append(b, `"}`...)
	}
	b = append(b, `]}]}`...)
	return b
}

// appendActivePatch appends Entra's default-mode (re)activation PATCH, with
// the boolean as a capitalised string.
func appendActivePatch(b []byte, active bool) []byte {
	v := "False"
	if active {
		v = "True"
	}
	b = append(b, `{"schemas":["`+schemaPatchOp+`"],"Operations":[{"op":"Replace","path":"active","value":"`...)
	b = append(b, v...)
	b = append(b, `"}]}`...)
	return b
}

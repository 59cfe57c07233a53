// Package armclient is the Azure Resource Manager client of the reconciler:
// role assignments and PIM schedule requests through the Azure SDK
// (armauthorization), paced by a token bucket per subscription, with ARM's
// failures handed back as rbac.APIError. It implements rbac.AssignmentAPI,
// rbac.ScheduleAPI and rbac.AssignmentCounter; the composition root
// (internal/app) builds it, and rbac knows it only by those interfaces.
package armclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/internal/rbac"
)

// Options configure the client.
type Options struct {
	// Cloud names the ARM endpoint and authority (sovereign clouds, test
	// servers); zero means Azure public cloud.
	Cloud cloud.Configuration
	// Credential authenticates to ARM.
	Credential azcore.TokenCredential
	// Transport replaces the HTTP client (the SDK fake, tests).
	Transport policy.Transporter
	// WritesPerSecond is the sustained rate of PUT/DELETE requests per
	// subscription, retries included (default 10, ARM's own refill rate per
	// subscription and principal: its bucket of 200 leaves the room for
	// retries and for other instances).
	WritesPerSecond float64
	// WriteBurst is the bucket size per subscription (default 30; ARM's is
	// 200).
	WriteBurst int
	// MaxRetries per request on 429/5xx/timeouts (default 5); Retry-After
	// is honoured by the SDK's retry policy.
	MaxRetries int32
	// TryTimeout bounds one attempt (default 30s).
	TryTimeout time.Duration
	// MaxRetryDelay caps a wait, Retry-After included (default 60s).
	MaxRetryDelay time.Duration
	// RetryDelay is the base of the exponential backoff (default 800ms).
	RetryDelay time.Duration
}

// The default write budget per subscription: at most 10 writes a second
// sustained, bursts of at most 30.
const (
	DefaultWritesPerSecond = 10
	DefaultWriteBurst      = 30
)

// Client lists, creates and deletes role assignments and PIM schedules.
type Client struct {
	client *armauthorization.RoleAssignmentsClient
	sched  scheduleClients
	calls  Counters
}

// Counters count ARM calls (list pages, creates, deletes) as seen by the
// client, retries not included.
type Counters struct {
	ListPages atomic.Int64
	// CountPages are the pages of the subscription-wide lists that count
	// assignments for the budget (rbac.AssignmentCounter).
	CountPages atomic.Int64
	// SchedulePages are the pages of PIM schedule lists.
	SchedulePages atomic.Int64
	Creates       atomic.Int64
	Deletes       atomic.Int64
}

// CallCounts is a JSON-friendly copy of Counters.
type CallCounts struct {
	ListPages     int64 `json:"listPages"`
	CountPages    int64 `json:"countPages,omitempty"`
	SchedulePages int64 `json:"schedulePages,omitempty"`
	Creates       int64 `json:"creates"`
	Deletes       int64 `json:"deletes"`
}

// New builds the client.
func New(o Options) (*Client, error) {
	if o.Credential == nil {
		return nil, errors.New("armclient: ARM credential is required")
	}
	if o.WritesPerSecond <= 0 {
		o.WritesPerSecond = DefaultWritesPerSecond
	}
	if o.WriteBurst <= 0 {
		o.WriteBurst = DefaultWriteBurst
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = 30 * time.Second
	}
	if o.MaxRetryDelay == 0 {
		o.MaxRetryDelay = 60 * time.Second
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = 800 * time.Millisecond
	}
	copts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud:     o.Cloud,
		Transport: o.Transport,
		Retry: policy.RetryOptions{
			MaxRetries:    o.MaxRetries,
			TryTimeout:    o.TryTimeout,
			RetryDelay:    o.RetryDelay,
			MaxRetryDelay: o.MaxRetryDelay,
			StatusCodes:   []int{http.StatusRequestTimeout, http.StatusTooManyRequests, 500, 502, 503, 504},
		},
		// Per retry, so that every attempt of a write spends a token.
		PerRetryPolicies: []policy.Policy{newWriteLimiter(o.WritesPerSecond, o.WriteBurst)},
	}}
	c, err := armauthorization.NewRoleAssignmentsClient("", o.Credential, copts)
	if err != nil {
		return nil, fmt.Errorf("armclient: role assignments client: %w", err)
	}
	a := &Client{client: c}
	if a.sched.eligReq, err = armauthorization.NewRoleEligibilityScheduleRequestsClient(o.Credential, copts); err == nil {
		if a.sched.asgReq, err = armauthorization.NewRoleAssignmentScheduleRequestsClient(o.Credential, copts); err == nil {
			if a.sched.eligSched, err = armauthorization.NewRoleEligibilitySchedulesClient(o.Credential, copts); err == nil {
				a.sched.asgSched, err = armauthorization.NewRoleAssignmentSchedulesClient(o.Credential, copts)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("armclient: schedule clients: %w", err)
	}
	return a, nil
}

// Calls returns the call counts so far.
func (a *Client) Calls() CallCounts {
	return CallCounts{ListPages: a.calls.ListPages.Load(), CountPages: a.calls.CountPages.Load(), SchedulePages: a.calls.SchedulePages.Load(), Creates: a.calls.Creates.Load(), Deletes: a.calls.Deletes.Load()}
}

// List returns the assignments made exactly at scope, listed with the
// atScope() filter (or "principalId eq" when principal is set), so the number
// of calls grows with pages, not with users.
func (a *Client) List(ctx context.Context, scope, principal string) ([]rbac.Assignment, error) {
	filter := "atScope()"
	if principal != "" {
		if !rbac.IsGUID(principal) {
			return nil, fmt.Errorf("armclient: principal %q is not a GUID", principal)
		}
		filter = "principalId eq '" + strings.ToLower(principal) + "'"
	}
	scope = rbac.NormScope(scope)
	// The SDK splices $filter into the query unencoded; a raw space would
	// make an invalid request line, so encode it.
	filter = strings.ReplaceAll(filter, " ", "%20")
	pager := a.client.NewListForScopePager(strings.TrimPrefix(scope, "/"), &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr(filter)})
	var out []rbac.Assignment
	for pager.More() {
		a.calls.ListPages.Add(1)
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list role assignments at %s: %w", scope, apiError(err))
		}
		for _, ra := range page.Value {
			if ra == nil || ra.Properties == nil {
				continue
			}
			p := ra.Properties
			as := rbac.Assignment{
				Scope:       rbac.NormScope(str(p.Scope)),
				PrincipalID: strings.ToLower(str(p.PrincipalID)),
				RoleID:      rbac.RoleGUID(str(p.RoleDefinitionID)),
				Name:        strings.ToLower(str(ra.Name)),
				Description: str(p.Description),
			}
			if p.PrincipalType != nil {
				as.PrincipalType = rbac.PrincipalType(*p.PrincipalType)
			}
			if as.Scope != scope { // inherited from above: not ours to manage here
				continue
			}
			out = append(out, as)
		}
	}
	return out, nil
}

// Create makes the assignment; an existing identical one counts as success.
func (a *Client) Create(ctx context.Context, as rbac.Assignment) error {
	a.calls.Creates.Add(1)
	pt := armauthorization.PrincipalType(as.PrincipalType)
	_, err := a.client.Create(ctx, strings.TrimPrefix(rbac.NormScope(as.Scope), "/"), as.Name, armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID:      to.Ptr(as.PrincipalID),
			RoleDefinitionID: to.Ptr(rbac.RoleDefinitionID(as.Scope, as.RoleID)),
			PrincipalType:    &pt,
			Description:      to.Ptr(as.Description),
		},
	}, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusConflict && re.ErrorCode == "RoleAssignmentExists" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create role assignment %s at %s: %w", as.Name, as.Scope, apiError(err))
	}
	return nil
}

// Delete removes the assignment; a missing one counts as success.
func (a *Client) Delete(ctx context.Context, as rbac.Assignment) error {
	a.calls.Deletes.Add(1)
	_, err := a.client.Delete(ctx, strings.TrimPrefix(rbac.NormScope(as.Scope), "/"), as.Name, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete role assignment %s at %s: %w", as.Name, as.Scope, apiError(err))
	}
	return nil
}

// writeLimiter keeps a token bucket per subscription in front of every PUT
// and DELETE attempt: ARM's own write bucket is per subscription and
// principal, so writes to factories in different subscriptions do not share
// a budget. The buckets live in this process: several instances each keep
// their own (see docs/BENCHMARKS.md), and ARM's 429 with Retry-After, which
// the retry policy honours, covers what they add up to.
type writeLimiter struct {
	rate  float64 // tokens per second
	burst float64
	mu    sync.Mutex
	subs  map[string]*bucket // by lower-case subscription id ("" for none)
}

// bucket is one token bucket; its fields are guarded by writeLimiter.mu.
type bucket struct {
	tokens float64
	last   time.Time
}

func newWriteLimiter(rate float64, burst int) *writeLimiter {
	return &writeLimiter{rate: rate, burst: float64(burst), subs: map[string]*bucket{}}
}

// reserve takes a token from the bucket of sub (a full one the first time)
// and says how long to wait before using it.
func (l *writeLimiter) reserve(sub string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.subs[sub]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.subs[sub] = b
	}
	b.tokens += now.Sub(b.last).Seconds() * l.rate
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / l.rate * float64(time.Second))
}

// requestSubscription is the lower-case subscription id in an ARM request path
// ("/subscriptions/<id>/..."), or "" when there is none.
func requestSubscription(path string) string {
	path = strings.ToLower(path)
	i := strings.Index(path, "/subscriptions/")
	if i < 0 {
		return ""
	}
	rest := path[i+len("/subscriptions/"):]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func (l *writeLimiter) Do(req *policy.Request) (*http.Response, error) {
	if m := req.Raw().Method; m == http.MethodPut || m == http.MethodDelete {
		if d := l.reserve(requestSubscription(req.Raw().URL.Path), time.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-req.Raw().Context().Done():
				t.Stop()
				return nil, req.Raw().Context().Err()
			}
		}
	}
	return req.Next()
}

// apiError wraps an error that carries ARM's answer in rbac.APIError, with
// the status and ARM's error code, so that the reconciler can read them
// without knowing the SDK; other errors (network, context) pass unchanged.
func apiError(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	return &rbac.APIError{Status: re.StatusCode, Code: re.ErrorCode, Err: err}
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// CloudConfig is the cloud.Configuration for an ARM endpoint and an Entra
// authority host (both optional: empty keeps Azure public cloud's). Sovereign
// clouds and test servers set them; the token audience is the endpoint
// unless audience is given.
func CloudConfig(armEndpoint, audience, authorityHost string) cloud.Configuration {
	c := cloud.AzurePublic
	c.Services = map[cloud.ServiceName]cloud.ServiceConfiguration{}
	for k, v := range cloud.AzurePublic.Services {
		c.Services[k] = v
	}
	if authorityHost != "" {
		c.ActiveDirectoryAuthorityHost = authorityHost
	}
	if armEndpoint != "" {
		if audience == "" {
			audience = strings.TrimSuffix(armEndpoint, "/")
		}
		c.Services[cloud.ResourceManager] = cloud.ServiceConfiguration{Endpoint: armEndpoint, Audience: audience}
	}
	return c
}

// The client is the reconciler's ARM.
var (
	_ rbac.AssignmentAPI     = (*Client)(nil)
	_ rbac.ScheduleAPI       = (*Client)(nil)
	_ rbac.AssignmentCounter = (*Client)(nil)
)

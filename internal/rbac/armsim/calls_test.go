package armsim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

// tlsClient serves s over TLS and returns the SDK's client talking to it
// over the wire, with tryTimeout bounding each attempt and no retries.
func tlsClient(t *testing.T, s *Sim, tryTimeout time.Duration) *armauthorization.RoleAssignmentsClient {
	t.Helper()
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(func() { s.Close(); srv.Close() })
	c, err := armauthorization.NewRoleAssignmentsClient("", &azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srv.URL, Audience: srv.URL}}},
		Transport: srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1, TryTimeout: tryTimeout},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The call log says what ARM carried out: who each write was for and
// whether it changed anything; a refused duplicate, the delete of nothing
// and list pages are calls that changed nothing.
func TestCallLog(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Store: memstore.New(), RecordCalls: true, PageSize: 1})
	c := tlsClient(t, s, 0)
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); err != nil {
		t.Fatal(err)
	}
	// The 409 crosses the wire as ARM sends it (the SDK fake alone would
	// make it a transport error, and the server a 500).
	_, err := c.Create(ctx, scope[1:], n2, params(), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != "RoleAssignmentExists" {
		t.Fatalf("duplicate: %v", err)
	}
	pager := c.NewListForScopePager(scope[1:], nil)
	for pager.More() {
		if _, err := pager.NextPage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(ctx, scope[1:], n1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, scope[1:], n1, nil); err != nil {
		t.Fatal(err)
	}
	calls, next := s.Calls(0)
	type row struct {
		method, name string
		status       int
		principal    string
		changed      bool
	}
	var got []row
	lists := 0
	for _, c := range calls {
		if c.RoleAssignmentList() {
			lists++
			continue
		}
		if c.Received.IsZero() || c.Done.Before(c.Received) || !c.Write() {
			t.Errorf("call %+v", c)
		}
		got = append(got, row{c.Method, c.Name(), c.Status, c.Principal, c.Changed})
	}
	want := []row{
		{"PUT", n1, http.StatusCreated, p1, true},
		{"PUT", n2, http.StatusConflict, p1, false},
		{"DELETE", n1, http.StatusOK, p1, true},
		{"DELETE", n1, http.StatusNoContent, "", false},
	}
	if len(got) != len(want) {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if lists != 1 || next != len(calls) {
		t.Errorf("%d list pages (want 1), next %d of %d", lists, next, len(calls))
	}
	if more, n := s.Calls(next); len(more) != 0 || n != next {
		t.Errorf("Calls(%d): %v, %d", next, more, n)
	}
	// Without RecordCalls nothing is kept.
	quiet := New(Options{Store: memstore.New()})
	if _, err := client(t, quiet).Create(ctx, scope[1:], n1, params(), nil); err != nil {
		t.Fatal(err)
	}
	if calls, n := quiet.Calls(0); len(calls) != 0 || n != 0 {
		t.Errorf("a simulator without RecordCalls logged %v", calls)
	}
}

// A held write waits, seen by Holding and Wait, and reaches the state only
// once released.
func TestHoldKeepsWritesWaiting(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Store: memstore.New(), RecordCalls: true})
	c := tlsClient(t, s, 0)
	release := s.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := c.Create(ctx, scope[1:], n1, params(), nil)
		done <- err
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a deadlock guard, not a measurement
	defer cancel()
	if err := s.Wait(wctx, func() bool { return s.Holding() == 1 }); err != nil {
		t.Fatal("the write never waited")
	}
	if all, _ := s.All(ctx); len(all) != 0 || s.InFlight() != 1 {
		t.Fatalf("a held write reached the state (%v) or is not in flight (%d)", all, s.InFlight())
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls, _ := s.Calls(0); len(calls) != 1 || !calls[0].Changed || s.Holding() != 0 || s.InFlight() != 0 {
		t.Errorf("after release: calls %+v, holding %d, in flight %d", calls, s.Holding(), s.InFlight())
	}
}

// Faults: the script comes first, in order, on writes only; a timeout
// neither answers nor acts; a lost answer acts; Pause stops them all; Close
// releases a hanging request.
func TestScriptedFaultsAndTimeouts(t *testing.T) {
	ctx := context.Background()
	f := &Faults{Script: []string{"timeout", "", "lost", "500", "429"}}
	s := New(Options{Store: memstore.New(), RecordCalls: true, Faults: f})
	c := tlsClient(t, s, 300*time.Millisecond)
	// A list is not a write: the script waits.
	if _, err := c.NewListForScopePager(scope[1:], nil).NextPage(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := c.Create(ctx, scope[1:], n1, params(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v, want the client's try timeout", err)
	}
	if all, _ := s.All(ctx); len(all) != 0 {
		t.Fatalf("a timed-out write acted: %v", all)
	}
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); err != nil { // ""
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, scope[1:], n1, nil); err == nil { // lost
		t.Fatal("a lost answer arrived")
	}
	if all, _ := s.All(ctx); len(all) != 0 {
		t.Fatalf("the delete whose answer was lost did not act: %v", all)
	}
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); statusOf(err) != http.StatusInternalServerError {
		t.Fatalf("500: %v", err)
	}
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); statusOf(err) != http.StatusTooManyRequests {
		t.Fatalf("429: %v", err)
	}
	for _, k := range []string{"timeout", "lost", "500", "429"} {
		if f.Count(k) != 1 {
			t.Errorf("%s injected %d times, want 1", k, f.Count(k))
		}
	}
	// The log holds the carried-out calls only: the list, the create, the
	// lost delete.
	calls, _ := s.Calls(0)
	var got []string
	for _, c := range calls {
		got = append(got, c.Method)
	}
	if strings.Join(got, " ") != "GET PUT DELETE" {
		t.Errorf("logged calls %v, want GET PUT DELETE", got)
	}

	f.P500 = 1 // no request in flight
	f.Pause()
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); err != nil {
		t.Fatalf("paused faults: %v", err)
	}
	f.Resume()
	if _, err := c.Delete(ctx, scope[1:], n1, nil); statusOf(err) != http.StatusInternalServerError {
		t.Fatalf("resumed faults: %v", err)
	}

	// A hanging request is released by Close (a client without a timeout
	// would wait for ever otherwise).
	f.P500, f.PTimeout = 0, 1
	hung := tlsClient(t, s, 0)
	done := make(chan error, 1)
	go func() {
		_, err := hung.Get(ctx, scope[1:], n1, nil)
		done <- err
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // a deadlock guard, not a measurement
	defer cancel()
	for f.Count("timeout") < 2 {
		select {
		case <-wctx.Done():
			t.Fatal("the timeout was never injected")
		case <-time.After(time.Millisecond):
		}
	}
	s.Close()
	if err := <-done; err == nil {
		t.Error("a hung request answered 2xx")
	}
	if _, err := s.Transport().Do(httptestRequest(t, ctx)); err == nil {
		t.Error("a timeout after Close did not fail at once")
	}
}

func httptestRequest(t *testing.T, ctx context.Context) *http.Request {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://management.azure.com"+scope+"/providers/Microsoft.Authorization/roleAssignments/"+n1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A schedule request is logged with its principal; it changed ARM the first
// time, not when a retry is answered the same.
func TestCallLogOfScheduleRequests(t *testing.T) {
	ctx := context.Background()
	s := New(Options{Store: memstore.New(), RecordCalls: true})
	c, err := armauthorization.NewRoleEligibilityScheduleRequestsClient(&azfake.TokenCredential{},
		&arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: s.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	req := armauthorization.RoleEligibilityScheduleRequest{Properties: &armauthorization.RoleEligibilityScheduleRequestProperties{
		PrincipalID: to.Ptr(strings.ToUpper(p1)), RoleDefinitionID: to.Ptr(role), RequestType: to.Ptr(armauthorization.RequestTypeAdminAssign)}}
	for i := 0; i < 2; i++ {
		if _, err := c.Create(ctx, scope[1:], n1, req, nil); err != nil {
			t.Fatal(err)
		}
	}
	calls, _ := s.Calls(0)
	if len(calls) != 2 || !calls[0].Changed || calls[1].Changed || calls[0].Principal != p1 || calls[0].Name() != n1 || !calls[0].Write() {
		t.Errorf("calls %+v", calls)
	}
}

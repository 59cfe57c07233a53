package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// benchServer is the handler over a store with n users, without a network
// in between, so profiles show the server's own cost. It builds the HTTP
// layer alone (handlers.New with the directory and a stub token source),
// not the whole service: the benchmarks measure the handlers' own work on a
// request, which audit records and token lookups in the store would blur.
func benchServer(b *testing.B, n int) (http.Handler, *directory.Service) {
	b.Helper()
	st := enginetest.Open(b)
	dir := directory.New(st, directory.Options{})
	for i := 0; i < n; i++ {
		_, _, err := dir.Create(context.Background(), "User", map[string]any{
			"userName": fmt.Sprintf("user%06d@contoso.com", i), "active": true,
			"name":   map[string]any{"givenName": "Given", "familyName": fmt.Sprintf("Family%d", i)},
			"emails": []any{map[string]any{"value": fmt.Sprintf("user%06d@contoso.com", i), "type": "work", "primary": true}},
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	return handlers.New(handlers.Options{Directory: dir, Auth: tokenAuth{}, Logger: zerolog.Nop()}), dir
}

func BenchmarkFilterUserNameEq(b *testing.B) {
	h, _ := benchServer(b, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			q := url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@contoso.com"`, i%2000))
			req := httptest.NewRequest("GET", "/scim/v2/Users?filter="+q, nil)
			req.Header.Set("Authorization", "Bearer "+scimClient)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"totalResults":1`) {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			i++
		}
	})
}

func BenchmarkPatchActive(b *testing.B) {
	h, dir := benchServer(b, 500)
	res, err := dir.List(context.Background(), "User", directory.ListOptions{Count: 500})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			id := res.Resources[i%len(res.Resources)].ID
			v := "False"
			if i%2 == 0 {
				v = "True"
			}
			body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"` + v + `"}]}`
			req := httptest.NewRequest("PATCH", "/scim/v2/Users/"+id, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+scimClient)
			req.Header.Set("Content-Type", "application/scim+json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			i++
		}
	})
}

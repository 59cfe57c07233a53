package keyvault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"
)

// memVault holds the state of a vault's secrets. Two front ends serve it:
// fakeServer (azsecrets/fake, in process) and restHandler (the Key Vault
// REST protocol over TLS), so the same scenarios run on both.
type memVault struct {
	mu      sync.Mutex
	base    string // vault URL, for ids
	now     func() time.Time
	secrets map[string][]*memVersion // by name, oldest first
	down    bool                     // answer 503 to everything
	gets    int                      // GetSecret calls, to check value caching
	lists   int                      // secret listings, to count refreshes
	listed  chan struct{}            // if set, receives once per listing
	denyUpd bool                     // answer 403 to property updates
	stall   func()                   // if set, runs before a request fails while down (a timeout's wait)
}

type memVersion struct {
	id          string
	value       string
	contentType string
	tags        map[string]string
	enabled     bool
	created     time.Time
	nb, exp     *time.Time
}

func newMemVault(base string, now func() time.Time) *memVault {
	return &memVault{base: strings.TrimSuffix(base, "/"), now: now, secrets: map[string][]*memVersion{}}
}

func (m *memVault) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// failsNow reports whether a request fails because the vault is down,
// after waiting as long as stall makes it.
func (m *memVault) failsNow() bool {
	m.mu.Lock()
	down, stall := m.down, m.stall
	m.mu.Unlock()
	if down && stall != nil {
		stall()
	}
	return down
}

func (m *memVault) getCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gets
}

func (m *memVault) listCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lists
}

func ptrTags(t map[string]string) map[string]*string {
	if t == nil {
		return nil
	}
	out := make(map[string]*string, len(t))
	for k, v := range t {
		out[k] = to.Ptr(v)
	}
	return out
}

func plainTags(t map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range t {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func (m *memVault) attrs(v *memVersion) *azsecrets.SecretAttributes {
	return &azsecrets.SecretAttributes{Enabled: to.Ptr(v.enabled), Created: to.Ptr(v.created), Updated: to.Ptr(v.created), NotBefore: v.nb, Expires: v.exp}
}

func (m *memVault) props(name string, v *memVersion, withVersion bool) *azsecrets.SecretProperties {
	id := m.base + "/secrets/" + name
	if withVersion {
		id += "/" + v.id
	}
	return &azsecrets.SecretProperties{ID: to.Ptr(azsecrets.ID(id)), Attributes: m.attrs(v), Tags: ptrTags(v.tags), ContentType: to.Ptr(v.contentType)}
}

func (m *memVault) bundle(name string, v *memVersion) azsecrets.Secret {
	return azsecrets.Secret{ID: to.Ptr(azsecrets.ID(m.base + "/secrets/" + name + "/" + v.id)), Value: to.Ptr(v.value), Attributes: m.attrs(v), Tags: ptrTags(v.tags), ContentType: to.Ptr(v.contentType)}
}

// listSecrets returns each secret's current (newest) version properties.
func (m *memVault) listSecrets() []*azsecrets.SecretProperties {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	if m.listed != nil {
		select {
		case m.listed <- struct{}{}:
		default:
		}
	}
	var out []*azsecrets.SecretProperties
	for _, name := range slices.Sorted(maps.Keys(m.secrets)) {
		vs := m.secrets[name]
		out = append(out, m.props(name, vs[len(vs)-1], false))
	}
	return out
}

func (m *memVault) listVersions(name string) ([]*azsecrets.SecretProperties, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs, ok := m.secrets[name]
	var out []*azsecrets.SecretProperties
	for _, v := range vs {
		out = append(out, m.props(name, v, true))
	}
	return out, ok
}

func (m *memVault) get(name, version string) (azsecrets.Secret, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gets++
	vs := m.secrets[name]
	if len(vs) == 0 {
		return azsecrets.Secret{}, false
	}
	if version == "" {
		return m.bundle(name, vs[len(vs)-1]), true
	}
	for _, v := range vs {
		if v.id == version {
			return m.bundle(name, v), true
		}
	}
	return azsecrets.Secret{}, false
}

func (m *memVault) set(name string, p azsecrets.SetSecretParameters) azsecrets.Secret {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	v := &memVersion{id: hex.EncodeToString(id), value: *p.Value, tags: plainTags(p.Tags), enabled: true, created: m.now().UTC().Truncate(time.Second)}
	if p.ContentType != nil {
		v.contentType = *p.ContentType
	}
	if a := p.SecretAttributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		v.nb, v.exp = a.NotBefore, a.Expires
	}
	m.secrets[name] = append(m.secrets[name], v)
	return m.bundle(name, v)
}

func (m *memVault) update(name, version string, p azsecrets.UpdateSecretPropertiesParameters) (azsecrets.Secret, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.denyUpd {
		return azsecrets.Secret{}, false
	}
	for _, v := range m.secrets[name] {
		if v.id != version {
			continue
		}
		if a := p.SecretAttributes; a != nil {
			if a.Enabled != nil {
				v.enabled = *a.Enabled
			}
			if a.Expires != nil {
				v.exp = a.Expires
			}
			if a.NotBefore != nil {
				v.nb = a.NotBefore
			}
		}
		if p.Tags != nil {
			v.tags = plainTags(p.Tags)
		}
		b := m.bundle(name, v)
		b.Value = nil
		return b, true
	}
	return azsecrets.Secret{}, false
}

// outageTransport sits in front of the fake transport and fails every
// request, as an unreachable network does, while the vault is down.
type outageTransport struct {
	vault *memVault
	next  policy.Transporter
}

func (o outageTransport) Do(req *http.Request) (*http.Response, error) {
	if o.vault.failsNow() {
		return nil, fmt.Errorf("dial tcp %s: connect: connection refused", req.URL.Host)
	}
	return o.next.Do(req)
}

// fakeServer serves the vault through azsecrets/fake.
func (m *memVault) fakeServer() *fake.Server {
	return &fake.Server{
		NewListSecretPropertiesPager: func(*azsecrets.ListSecretPropertiesOptions) (resp azfake.PagerResponder[azsecrets.ListSecretPropertiesResponse]) {
			all := m.listSecrets()
			// Two pages when there is more than one secret, to exercise paging.
			half := len(all) / 2
			if half > 0 {
				resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesResponse{SecretPropertiesListResult: azsecrets.SecretPropertiesListResult{Value: all[:half]}}, nil)
			}
			resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesResponse{SecretPropertiesListResult: azsecrets.SecretPropertiesListResult{Value: all[half:]}}, nil)
			return
		},
		NewListSecretPropertiesVersionsPager: func(name string, _ *azsecrets.ListSecretPropertiesVersionsOptions) (resp azfake.PagerResponder[azsecrets.ListSecretPropertiesVersionsResponse]) {
			// A missing secret is an empty list here: the fake transport
			// keeps a pager that ended in an error and answers the next
			// listing of the same path from it. The TLS server answers 404.
			vs, _ := m.listVersions(name)
			resp.AddPage(http.StatusOK, azsecrets.ListSecretPropertiesVersionsResponse{SecretPropertiesListResult: azsecrets.SecretPropertiesListResult{Value: vs}}, nil)
			return
		},
		GetSecret: func(_ context.Context, name, version string, _ *azsecrets.GetSecretOptions) (resp azfake.Responder[azsecrets.GetSecretResponse], errResp azfake.ErrorResponder) {
			s, ok := m.get(name, version)
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, azsecrets.GetSecretResponse{Secret: s}, nil)
			return
		},
		SetSecret: func(_ context.Context, name string, p azsecrets.SetSecretParameters, _ *azsecrets.SetSecretOptions) (resp azfake.Responder[azsecrets.SetSecretResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, azsecrets.SetSecretResponse{Secret: m.set(name, p)}, nil)
			return
		},
		UpdateSecretProperties: func(_ context.Context, name, version string, p azsecrets.UpdateSecretPropertiesParameters, _ *azsecrets.UpdateSecretPropertiesOptions) (resp azfake.Responder[azsecrets.UpdateSecretPropertiesResponse], errResp azfake.ErrorResponder) {
			s, ok := m.update(name, version, p)
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, azsecrets.UpdateSecretPropertiesResponse{Secret: s}, nil)
			return
		},
	}
}

// restHandler serves the vault over the Key Vault REST protocol (api
// version 7.6), including the bearer challenge a client meets on its first
// request. It accepts only requests carrying accessToken.
func (m *memVault) restHandler(accessToken string) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	kvError := func(w http.ResponseWriter, status int, code string) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
	}
	guard := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("api-version") == "" {
				kvError(w, http.StatusBadRequest, "MissingApiVersionParameter")
				return
			}
			auth := r.Header.Get("Authorization")
			if auth == "" {
				w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001", resource="https://vault.azure.net"`)
				kvError(w, http.StatusUnauthorized, "Unauthorized")
				return
			}
			if auth != "Bearer "+accessToken {
				kvError(w, http.StatusUnauthorized, "Unauthorized")
				return
			}
			if m.failsNow() {
				kvError(w, http.StatusServiceUnavailable, "ServiceUnavailable")
				return
			}
			next(w, r)
		}
	}
	list := func(w http.ResponseWriter, items []*azsecrets.SecretProperties) {
		writeJSON(w, http.StatusOK, azsecrets.SecretPropertiesListResult{Value: items})
	}
	mux.HandleFunc("GET /secrets", guard(func(w http.ResponseWriter, r *http.Request) {
		list(w, m.listSecrets())
	}))
	mux.HandleFunc("GET /secrets/{name}/versions", guard(func(w http.ResponseWriter, r *http.Request) {
		vs, ok := m.listVersions(r.PathValue("name"))
		if !ok {
			kvError(w, http.StatusNotFound, "SecretNotFound")
			return
		}
		list(w, vs)
	}))
	mux.HandleFunc("GET /secrets/{name}/{version}", guard(func(w http.ResponseWriter, r *http.Request) {
		s, ok := m.get(r.PathValue("name"), r.PathValue("version"))
		if !ok {
			kvError(w, http.StatusNotFound, "SecretNotFound")
			return
		}
		writeJSON(w, http.StatusOK, s)
	}))
	mux.HandleFunc("PUT /secrets/{name}", guard(func(w http.ResponseWriter, r *http.Request) {
		var p azsecrets.SetSecretParameters
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || p.Value == nil {
			kvError(w, http.StatusBadRequest, "BadParameter")
			return
		}
		writeJSON(w, http.StatusOK, m.set(r.PathValue("name"), p))
	}))
	mux.HandleFunc("PATCH /secrets/{name}/{version}", guard(func(w http.ResponseWriter, r *http.Request) {
		var p azsecrets.UpdateSecretPropertiesParameters
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			kvError(w, http.StatusBadRequest, "BadParameter")
			return
		}
		s, ok := m.update(r.PathValue("name"), r.PathValue("version"), p)
		if !ok {
			kvError(w, http.StatusNotFound, "SecretNotFound")
			return
		}
		writeJSON(w, http.StatusOK, s)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		kvError(w, http.StatusNotFound, fmt.Sprintf("NoRoute %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func setParams(value string, tags map[string]string) azsecrets.SetSecretParameters {
	return azsecrets.SetSecretParameters{Value: to.Ptr(value), Tags: ptrTags(tags)}
}

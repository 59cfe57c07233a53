package checkpoint_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/blob"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/keyvault"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/local"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func TestMain(m *testing.M) {
	code := azuritetest.Main(m)
	sharedBlobServer.Lock()
	sharedBlobServer.srv.Stop()
	sharedBlobServer.Unlock()
	os.Exit(code)
}

// rig is one deployment shape: a trail store, a checkpoint sink and a
// signer. rewrite replaces the sink's lines, as someone with write access
// to an unprotected sink could.
type rig struct {
	s       store.Store
	sink    checkpoint.Sink
	signer  checkpoint.Signer
	rewrite func(t *testing.T, lines [][]byte)
}

// rigs are the two shapes the checkpoints are tested on: the embedded
// store with the local file and key (go run .), and Table Storage with
// the append blob (both on Azurite) and a Key Vault key (azkeys fake).
func rigs() []struct {
	name string
	open func(t *testing.T) rig
} {
	return []struct {
		name string
		open func(t *testing.T) rig
	}{
		{"bolt+file+localkey", openLocalRig},
		{"tables+blob+keyvault", openAzureRig},
	}
}

func openLocalRig(t *testing.T) rig {
	dir := t.TempDir()
	s, err := bolt.Open(filepath.Join(dir, "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	key, err := local.OpenKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	f := local.File{Path: filepath.Join(dir, local.LinesFile)}
	return rig{s: s, sink: f, signer: key, rewrite: func(t *testing.T, lines [][]byte) {
		var b []byte
		for _, l := range lines {
			b = append(append(b, l...), '\n')
		}
		if err := os.WriteFile(f.Path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}}
}

var prefixes atomic.Int64

func openAzureRig(t *testing.T) rig {
	prefix := fmt.Sprintf("c%dx%d", os.Getpid(), prefixes.Add(1))
	s, err := tables.Open(context.Background(), tables.Options{ConnectionString: azuritetest.Shared(t), TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := newContainer(t, sharedBlob(t), "checkpoints")
	signer := fakeVaultSigner(t, newVault(t))
	return rig{s: s, sink: blob.New(c), signer: signer, rewrite: func(t *testing.T, lines [][]byte) {
		ctx := context.Background()
		pager := c.NewListBlobsFlatPager(nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range page.Segment.BlobItems {
				if _, err := c.NewBlobClient(*b.Name).Delete(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		sink := blob.New(c)
		for _, l := range lines {
			_, pos, err := sink.Last(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var cp checkpoint.Checkpoint
			if c, _, _, err := checkpoint.Parse(l); err == nil {
				cp = c
			}
			if err := sink.Append(ctx, l, pos, cp.Time); err != nil {
				t.Fatal(err)
			}
		}
	}}
}

var sharedBlobServer struct {
	sync.Mutex
	srv *azuritetest.BlobServer
}

// sharedBlob is one Azurite blob service for the test binary; tests
// isolate with containers of their own.
func sharedBlob(t *testing.T) *azuritetest.BlobServer {
	sharedBlobServer.Lock()
	defer sharedBlobServer.Unlock()
	if sharedBlobServer.srv == nil {
		// Started for the whole binary: not tied to this test's cleanup.
		sharedBlobServer.srv = azuritetest.StartBlob(&forever{T: t})
	}
	return sharedBlobServer.srv
}

// forever is a testing.TB whose cleanups never run: the shared blob
// service lives until TestMain stops it.
type forever struct{ *testing.T }

func (forever) Cleanup(func()) {}

var containers atomic.Int64

func newContainer(t *testing.T, srv *azuritetest.BlobServer, base string) *container.Client {
	t.Helper()
	name := fmt.Sprintf("%s%d", base, containers.Add(1))
	cred, err := container.NewSharedKeyCredential(azuritetest.Account, azuritetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := container.NewClientWithSharedKeyCredential(srv.Endpoint+"/"+name, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// vault is a Key Vault holding one EC P-256 key, served through the
// azkeys fake: the client speaks the real wire protocol, and the vault
// signs as Key Vault does, returning the raw r||s of ES256.
type vault struct {
	key   *ecdsa.PrivateKey
	kid   string
	signs atomic.Int64
}

func newVault(t *testing.T) *vault {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &vault{key: k, kid: "https://fake.vault.azure.net/keys/audit-checkpoints/0123456789abcdef0123456789abcdef"}
}

func (v *vault) server() *fake.Server {
	return &fake.Server{
		GetKey: func(_ context.Context, name, version string, _ *azkeys.GetKeyOptions) (resp azfake.Responder[azkeys.GetKeyResponse], errResp azfake.ErrorResponder) {
			name, version = splitKeyPath(name, version)
			if name != "audit-checkpoints" || (version != "" && !strings.HasSuffix(v.kid, "/"+version)) {
				errResp.SetResponseError(http.StatusNotFound, "KeyNotFound")
				return
			}
			kid := azkeys.ID(v.kid)
			x, y := make([]byte, 32), make([]byte, 32)
			v.key.X.FillBytes(x)
			v.key.Y.FillBytes(y)
			resp.SetResponse(http.StatusOK, azkeys.GetKeyResponse{KeyBundle: azkeys.KeyBundle{Key: &azkeys.JSONWebKey{
				KID: &kid, Kty: new(azkeys.KeyTypeEC), Crv: new(azkeys.CurveNameP256), X: x, Y: y,
				KeyOps: []*azkeys.KeyOperation{new(azkeys.KeyOperationSign), new(azkeys.KeyOperationVerify)},
			}}}, nil)
			return
		},
		Sign: func(_ context.Context, name, version string, p azkeys.SignParameters, _ *azkeys.SignOptions) (resp azfake.Responder[azkeys.SignResponse], errResp azfake.ErrorResponder) {
			name, version = splitKeyPath(name, version)
			if name != "audit-checkpoints" || !strings.HasSuffix(v.kid, "/"+version) {
				errResp.SetResponseError(http.StatusNotFound, "KeyNotFound")
				return
			}
			if p.Algorithm == nil || *p.Algorithm != azkeys.SignatureAlgorithmES256 || len(p.Value) != sha256.Size {
				errResp.SetResponseError(http.StatusBadRequest, "BadParameter")
				return
			}
			r, s, err := ecdsa.Sign(rand.Reader, v.key, p.Value)
			if err != nil {
				errResp.SetError(err)
				return
			}
			raw := make([]byte, 64)
			r.FillBytes(raw[:32])
			s.FillBytes(raw[32:])
			v.signs.Add(1)
			kid := azkeys.ID(v.kid)
			resp.SetResponse(http.StatusOK, azkeys.SignResponse{KeyOperationResult: azkeys.KeyOperationResult{KID: &kid, Result: raw}}, nil)
			return
		},
	}
}

// splitKeyPath undoes the fake's path parsing, whose name pattern also
// matches "/" and so swallows the version ("name/version", or "name/"
// when there is none).
func splitKeyPath(name, version string) (string, string) {
	if n, v, ok := strings.Cut(name, "/"); ok && version == "" {
		return n, v
	}
	return name, version
}

func fakeVaultSigner(t *testing.T, v *vault) *keyvault.Signer {
	t.Helper()
	c, err := azkeys.NewClient("https://fake.vault.azure.net/", &azfake.TokenCredential{}, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: fake.NewServerTransport(v.server())},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := keyvault.Open(context.Background(), c, "audit-checkpoints", "")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The trail's stored layout, as someone with write access to the table
// sees it: day partitions, a head row, one row per record, each hashed
// with the documented chain hash.
const (
	table = "audit"
	head  = "head"
)

func rowKey(seq uint64) string { return fmt.Sprintf("r%020d", seq) }

type row struct {
	Seq  uint64          `json:"seq"`
	Prev string          `json:"prev"`
	Hash string          `json:"hash"`
	Rec  json.RawMessage `json:"rec"`
}

func chainHash(seq uint64, prev string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "adfscim.audit.v1\n%d\n%s\n%d\n", seq, prev, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func getJSON(t *testing.T, s store.Store, pk, rk string, v any) {
	t.Helper()
	e, err := s.Get(context.Background(), table, pk, rk)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatal(err)
	}
}

func putJSON(t *testing.T, s store.Store, pk, rk string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(context.Background(), table, []store.Op{{Kind: store.Upsert, Entity: store.Entity{PartitionKey: pk, RowKey: rk, Data: b}}}); err != nil {
		t.Fatal(err)
	}
}

func delRow(t *testing.T, s store.Store, pk, rk string) {
	t.Helper()
	if _, err := s.Batch(context.Background(), table, []store.Op{{Kind: store.Delete, Entity: store.Entity{PartitionKey: pk, RowKey: rk}}}); err != nil {
		t.Fatal(err)
	}
}

// setHead points a day's head row at (seq, hash), keeping its other fields.
func setHead(t *testing.T, s store.Store, day string, seq uint64, hash string) {
	t.Helper()
	var h map[string]any
	getJSON(t, s, day, head, &h)
	h["seq"], h["hash"] = seq, hash
	putJSON(t, s, day, head, h)
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

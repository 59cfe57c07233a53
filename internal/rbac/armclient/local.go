package armclient

import (
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/store"
)

// NewLocal is the local default when no Azure is configured: the
// armauthorization client talking to the simulated ARM (armsim), whose
// assignments live in st (table "armsim") and so persist across runs.
// WritesPerSecond and the retry settings of o still apply.
func NewLocal(st store.Store, o Options) (*Client, *armsim.Sim, error) {
	sim := armsim.New(armsim.Options{Store: st})
	o.Transport = sim.Transport()
	o.Credential = &azfake.TokenCredential{}
	a, err := New(o)
	return a, sim, err
}

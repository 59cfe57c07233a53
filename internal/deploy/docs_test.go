package deploy

import (
	"github.com/adfscim/adfscim/internal/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsSettings checks that the deployment guide documents every
// setting and that the Entra guide gives the tenant URL with the SCIM
// compliance flag.
func TestDocsSettings(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !strings.Contains(string(b), "`"+s.Name+"`") {
			t.Errorf("docs/deploy.md does not document %s", s.Name)
		}
	}
	e, err := os.ReadFile(filepath.Join(root, "docs", "entra-id.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e), "https://<app>.azurewebsites.net/scim/v2?aadOptscim062020") {
		t.Error("docs/entra-id.md does not give the tenant URL with ?aadOptscim062020")
	}
}

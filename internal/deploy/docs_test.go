package deploy

import (
	"github.com/adfscim/adfscim/internal/config"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// supportedCommands are the adfscim subcommands (and their own
// subcommands) the docs may tell a reader to run. Keep it in step with the
// command's usage; a test of main may check the two agree.
var supportedCommands = map[string][]string{
	"serve":     nil,
	"package":   nil,
	"token":     {"create", "rotate", "list", "revoke"},
	"export":    nil,
	"import":    nil,
	"plan":      nil,
	"reconcile": nil,
	"audit":     {"verify", "export"},
	"report":    nil,
}

var docFiles = []string{"docs/deploy.md", "docs/entra-id.md", "docs/okta.md", "docs/runbook.md"}

// TestDocsCommands checks that every `adfscim <command>` the guides name is
// one the project supports.
func TestDocsCommands(t *testing.T) {
	root := repoRoot(t)
	// Commands appear as ./adfscim in shell blocks and `adfscim in prose.
	cmdRE := regexp.MustCompile(`(?:\./|\x60)adfscim ([a-z]+)(?: ([a-z]+))?`)
	for _, name := range docFiles {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range cmdRE.FindAllStringSubmatch(string(b), -1) {
				subs, ok := supportedCommands[m[1]]
				if !ok {
					t.Errorf("names `adfscim %s`, not a supported command", m[1])
					continue
				}
				n++
				if subs != nil && m[2] != "" && !slices.Contains(subs, m[2]) {
					t.Errorf("names `adfscim %s %s`, not a supported subcommand", m[1], m[2])
				}
			}
			if n == 0 {
				t.Errorf("names no adfscim command at all")
			}
		})
	}
}

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

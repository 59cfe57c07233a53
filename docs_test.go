package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/tokens"
)

// TestDocumentedCommandsExist: every `adfscim <command>` that the README and
// the guides tell a reader to run is a command of this binary.
func TestDocumentedCommandsExist(t *testing.T) {
	commands := map[string]bool{}
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
			commands[f[0]] = true
		}
	}
	if len(commands) < 5 {
		t.Fatalf("could not read the commands from the usage text:\n%s", usage)
	}
	files, _ := filepath.Glob("docs/*.md")
	files = append(files, "README.md")
	// The commands that have subcommands, from the lists their dispatch uses.
	subcommands := map[string]map[string]bool{"token": tokenCommands, "audit": auditCommands}
	re := regexp.MustCompile(`adfscim ([a-z][a-z-]+)(?: ([a-z][a-z-]+))?`)
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range codeSpans(string(b)) {
			for _, m := range re.FindAllStringSubmatch(block, -1) {
				checked++
				if !commands[m[1]] {
					t.Errorf("%s tells the reader to run `adfscim %s`, which is not a command", f, m[1])
				}
				if subs := subcommands[m[1]]; subs != nil && m[2] != "" && !subs[m[2]] {
					t.Errorf("%s tells the reader to run `adfscim %s %s`, which is not a subcommand", f, m[1], m[2])
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no adfscim command in the docs")
	}
}

// codeSpans returns the contents of fenced blocks and `inline code`.
func codeSpans(md string) []string {
	var out []string
	parts := strings.Split(md, "```")
	for i, p := range parts {
		if i%2 == 1 {
			out = append(out, p)
			continue
		}
		inline := strings.Split(p, "`")
		for j := 1; j < len(inline); j += 2 {
			out = append(out, inline[j])
		}
	}
	return out
}

// docFiles are the README and the guides, the files a reader follows.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	return append(files, "README.md")
}

// readerMadeFiles are paths the docs tell the reader to create or that a
// command writes; they are not in the repository.
var readerMadeFiles = map[string]bool{
	"infra/tenant.bicepparam": true, // deploy.md step 2: a copy of main.bicepparam
	"dist/adfscim.zip":        true, // written by `adfscim package`
	"./.adfscim":              true, // the default data directory
	"./.adfscim/adfscim.db":   true, // the embedded store in it
}

// pathLike matches a code span or link target that names a file or
// directory of the repository: relative, no spaces, no URL, no shell.
var pathLike = regexp.MustCompile(`^\.{0,2}/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?$`)

// goSymbol matches a package path with one of its identifiers, as in
// `internal/deploy.Tables()`.
var goSymbol = regexp.MustCompile(`^((?:[a-z0-9_]+/)*[a-z0-9_]+)\.([A-Z][A-Za-z0-9_]*)(?:\(\))?$`)

// linkTarget matches the target of a markdown link.
var linkTarget = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocumentedPathsExist: every repository path the README and the guides
// give in `code` or as a link target names a file or directory that exists,
// and a Go symbol given as package.Name is declared in that package; the
// README's map of the code ("How it fits together") likewise.
func TestDocumentedPathsExist(t *testing.T) {
	top := map[string]bool{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		top[e.Name()] = true
	}
	checked := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md := string(b)
		// Inline code: paths from the repository root.
		for _, span := range inlineCode(md) {
			if checkPath(t, f, ".", span, top) {
				checked++
			}
		}
		// Links: relative to the document.
		for _, m := range linkTarget.FindAllStringSubmatch(md, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, m[1])
			}
		}
	}
	// The map of the code in the README: the first column of each line.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## How it fits together")
	if !ok {
		t.Fatal("README.md has no \"How it fits together\" section")
	}
	parts := strings.SplitN(after, "```", 3)
	if len(parts) < 3 {
		t.Fatal("README.md: no code map after \"How it fits together\"")
	}
	lines := 0
	for _, line := range strings.Split(parts[1], "\n") {
		col, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		if col == "" || strings.Contains(col, "<") {
			continue
		}
		names := strings.Split(col, ", ")
		first := names[0]
		for i, n := range names {
			if i > 0 {
				n = filepath.Join(filepath.Dir(filepath.Clean(first)), n)
			}
			lines++
			if _, err := os.Stat(n); err != nil {
				t.Errorf("README.md's code map names %s, which does not exist", n)
			}
		}
	}
	if lines < 10 || checked < 10 {
		t.Fatalf("checked only %d code map entries and %d paths: is the parsing broken?", lines, checked)
	}
}

// inlineCode returns the `inline code` of md, outside fenced blocks.
func inlineCode(md string) []string {
	var out []string
	for i, p := range strings.Split(md, "```") {
		if i%2 == 1 {
			continue
		}
		inline := strings.Split(p, "`")
		for j := 1; j < len(inline); j += 2 {
			out = append(out, inline[j])
		}
	}
	return out
}

// checkPath checks span if it looks like a repository path or a Go symbol;
// it reports whether it checked anything.
func checkPath(t *testing.T, doc, root, span string, top map[string]bool) bool {
	t.Helper()
	if m := goSymbol.FindStringSubmatch(span); m != nil && strings.Contains(m[1], "/") {
		dir := filepath.Join(root, m[1])
		if !top[strings.Split(m[1], "/")[0]] {
			return false
		}
		if !declares(dir, m[2]) {
			t.Errorf("%s names `%s`: package %s does not declare %s", doc, span, m[1], m[2])
		}
		return true
	}
	if !pathLike.MatchString(span) || readerMadeFiles[span] {
		return false
	}
	clean := filepath.Clean(span)
	first := strings.Split(clean, string(filepath.Separator))[0]
	isFile := regexp.MustCompile(`\.(go|md|json|bicep|bicepparam|png|sh|yaml|yml|txt|mod|sum)$`).MatchString(clean)
	if !strings.Contains(clean, string(filepath.Separator)) && !isFile {
		return false // a single word: a command, a setting, a value
	}
	if !top[first] && !isFile {
		return false // not under the repository's top level (e.g. a URL path)
	}
	if _, err := os.Stat(filepath.Join(root, clean)); err != nil {
		t.Errorf("%s names `%s`, which does not exist in the repository", doc, span)
	}
	return true
}

// declares reports whether a Go file in dir declares name at top level.
func declares(dir, name string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	decl := regexp.MustCompile(`(?m)^(func|type|var|const) (\([^)]*\) )?` + name + `\b|^\t` + name + `\s`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil && decl.Match(b) {
			return true
		}
	}
	return false
}

// TestDeployDocumentsEveryParameter: docs/deploy.md has a row for every
// parameter of infra/main.bicep with its default, and every deployment
// output the guides read exists.
func TestDeployDocumentsEveryParameter(t *testing.T) {
	bicep, err := os.ReadFile("infra/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := os.ReadFile("docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	params := regexp.MustCompile(`(?m)^param (\w+) (\w+)(?: = (.*))?$`).FindAllStringSubmatch(string(bicep), -1)
	if len(params) < 10 {
		t.Fatalf("read only %d parameters from infra/main.bicep", len(params))
	}
	for _, p := range params {
		name, def := p[1], strings.TrimSpace(p[3])
		row := regexp.MustCompile("(?m)^\\| `" + name + "` \\| ([^|]*) \\|").FindStringSubmatch(string(deploy))
		if row == nil {
			t.Errorf("docs/deploy.md has no parameter row for %s", name)
			continue
		}
		cell := strings.TrimSpace(row[1])
		var want string
		switch {
		case def == "":
			want = "required"
		case def == "''":
			want = "empty"
		case strings.HasPrefix(def, "'") && !strings.Contains(def, "${"):
			want = "`" + strings.Trim(def, "'") + "`"
		case regexp.MustCompile(`^(true|false|-?\d+|\{\}|\[\])$`).MatchString(def):
			want = "`" + def + "`"
		default:
			if cell == "" || cell == "required" {
				t.Errorf("docs/deploy.md: %s defaults to %s, but its row says %q", name, def, cell)
			}
			continue
		}
		if cell != want {
			t.Errorf("docs/deploy.md: %s's default is %q, want %q (main.bicep: %s)", name, cell, want, def)
		}
	}

	outputs := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^output (\w+) `).FindAllStringSubmatch(string(bicep), -1) {
		outputs[m[1]] = true
	}
	used := regexp.MustCompile(`outputs\.(\w+)\.value|\bout (\w+)\)`)
	n := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			name := m[1] + m[2]
			n++
			if !outputs[name] {
				t.Errorf("%s reads the deployment output %s, which infra/main.bicep does not have", f, name)
			}
		}
	}
	if n == 0 {
		t.Fatal("the guides read no deployment output: is the parsing broken?")
	}
	runbook, err := os.ReadFile("docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(runbook), "out appInsightsName)") {
		t.Error("docs/runbook.md does not read the Application Insights name from the deployment outputs")
	}
}

// TestREADMECommandsMatchHelp: the README's Commands block lists every
// command of the usage text, and every flag it shows is one the command's
// own help (or the usage text) names.
func TestREADMECommandsMatchHelp(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## Commands")
	if !ok {
		t.Fatal("README.md has no Commands section")
	}
	parts := strings.SplitN(after, "```", 3)
	if len(parts) < 3 {
		t.Fatal("README.md: no code block under Commands")
	}
	listed := map[string]bool{}
	flagRE := regexp.MustCompile(`(?:^|[\s\[|])(--?[a-z][a-z-]*)`)
	for _, line := range strings.Split(parts[1], "\n") {
		// Only the command part of the line: the description follows two
		// or more spaces.
		synopsis, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		f := strings.Fields(synopsis)
		if len(f) < 2 || f[0] != "adfscim" {
			continue
		}
		cmd := strings.Trim(f[1], "[]")
		listed[cmd] = true
		// The command's help: `adfscim <cmd> [<sub>] -h`, one per
		// subcommand written as a|b|c.
		subs := []string{""}
		if len(f) > 2 && regexp.MustCompile(`^[a-z]+(\|[a-z]+)*$`).MatchString(f[2]) {
			subs = strings.Split(f[2], "|")
		}
		help := usage
		for _, sub := range subs {
			args := []string{cmd}
			if sub != "" {
				args = append(args, sub)
			}
			help += commandHelp(t, append(args, "-h")...)
		}
		for _, m := range flagRE.FindAllStringSubmatch(synopsis, -1) {
			name := "-" + strings.TrimLeft(m[1], "-")
			if !regexp.MustCompile(`(^|[\s\[(,])-{1,2}` + regexp.QuoteMeta(name[1:]) + `\b`).MatchString(help) {
				t.Errorf("README.md shows `%s` with %s, which its help does not know", strings.Join(f[:2], " "), m[1])
			}
		}
	}
	for _, line := range strings.Split(usage, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") && !listed[f[0]] {
			t.Errorf("README.md's Commands block does not list `adfscim %s`", f[0])
		}
	}
}

// commandHelp runs the command with args (ending in -h) the way the binary
// does, in a throw-away directory (so a command that took the line for a
// real one writes nothing into the repository), and returns all it printed.
func commandHelp(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	getenv := func(name string) string {
		if name == "ADFSCIM_DATA_DIR" {
			return dir
		}
		return ""
	}
	var out strings.Builder
	run(t.Context(), args, getenv, strings.NewReader(""), &out, &out)
	return out.String()
}

// TestLocalSettingsSampleWorks: the values of local.settings.sample.json,
// used as given, load and start the parts a local run builds from them
// (the static token's length included), so the sample cannot rot.
func TestLocalSettingsSampleWorks(t *testing.T) {
	b, err := os.ReadFile("local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	getenv := func(name string) string {
		if name == "ADFSCIM_DATA_DIR" {
			return dir // the sample's ./.adfscim, kept out of the repository
		}
		return sample.Values[name]
	}
	cfg, err := config.Load(nil, getenv, io.Discard)
	if err != nil {
		t.Fatalf("config.Load with the sample's values: %v", err)
	}
	if cfg.BearerToken == "" {
		t.Fatal("the sample sets no SCIM_BEARER_TOKEN")
	}
	base, err := app.OpenStore(t.Context(), cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	if _, err := base.Tokens(t.Context()); err != nil {
		t.Errorf("the sample's SCIM_BEARER_TOKEN is refused: %v", err)
	}
	if _, _, err := base.Mapping(); err != nil {
		t.Errorf("the sample's mapping is refused: %v", err)
	}
	// The whole service builds on the sample: schema extensions and all.
	a, err := app.New(t.Context(), cfg, app.Options{Store: base.Store})
	if err != nil {
		t.Errorf("the sample's settings do not build the service: %v", err)
	} else {
		a.Close()
	}
}

// TestDocumentedStaticTokensAreLongEnough: the README states the static
// token's minimum length, and every SCIM_BEARER_TOKEN the docs set meets it.
func TestDocumentedStaticTokensAreLongEnough(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("at least %d characters", tokens.MinStaticTokenLen); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say SCIM_BEARER_TOKEN must be %s", want)
	}
	re := regexp.MustCompile(`SCIM_BEARER_TOKEN=([^\s'"]+)`)
	n := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			n++
			if len(m[1]) < tokens.MinStaticTokenLen {
				t.Errorf("%s sets SCIM_BEARER_TOKEN=%s, shorter than %d characters", f, m[1], tokens.MinStaticTokenLen)
			}
		}
	}
	if n == 0 {
		t.Fatal("the docs set no SCIM_BEARER_TOKEN: is the parsing broken?")
	}
}

// TestRoleNamesAgree: the role names a binding may use are one set
// everywhere. Every alias infra/main.bicep resolves is accepted by the
// service's mapping, listed in an unknown role's error and in deploy.md's
// description of `bindings`; every "role" the README and the guides put in a
// mapping is accepted.
func TestRoleNamesAgree(t *testing.T) {
	bicep, err := os.ReadFile("infra/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)var roleAliases = \{\n(.*?)\n\}`).FindSubmatch(bicep)
	if block == nil {
		t.Fatal("infra/main.bicep has no roleAliases")
	}
	var aliases []string
	for _, line := range strings.Split(string(block[1]), "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			aliases = append(aliases, name)
		}
	}
	if len(aliases) < 3 {
		t.Fatalf("read only %v from roleAliases", aliases)
	}
	const factory = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"
	mapping := func(role string) string {
		return `{"bindings":[{"group":"g","role":` + strconv.Quote(role) + `,"factories":["` + factory + `"]}]}`
	}
	deploy, err := os.ReadFile("docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, unknown := rbac.ParseMapping([]byte(mapping("NoSuchRole")))
	if unknown == nil {
		t.Fatal("an unknown role was accepted")
	}
	for _, a := range aliases {
		if _, err := rbac.ParseMapping([]byte(mapping(a))); err != nil {
			t.Errorf("Bicep's role alias %s is refused by the mapping: %v", a, err)
		}
		if !strings.Contains(unknown.Error(), a) {
			t.Errorf("an unknown role's error does not list %s: %v", a, unknown)
		}
		if !strings.Contains(string(deploy), "`"+a+"`") {
			t.Errorf("docs/deploy.md does not name the role %s", a)
		}
	}
	roleRE := regexp.MustCompile(`"role"\s*:\s*"([^"]+)"`)
	checked := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range roleRE.FindAllStringSubmatch(string(b), -1) {
			checked++
			if _, err := rbac.ParseMapping([]byte(mapping(m[1]))); err != nil {
				t.Errorf("%s binds the role %q, which the mapping refuses: %v", f, m[1], err)
			}
		}
	}
	if checked == 0 {
		t.Error("found no role in a mapping in the docs")
	}
}

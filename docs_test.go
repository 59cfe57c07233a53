package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	re := regexp.MustCompile("adfscim ([a-z][a-z-]+)")
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

package report_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/report"
)

var screenshot = flag.String("screenshot", "", "write a PNG of the HTML report to this path (docs/report.png)")

// chromium finds Debian's chromium. Without it the browser test skips on a
// developer's machine and fails in CI (CI=true), where .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
	}
	t.Skip("chromium is not installed; CI installs it")
	return ""
}

// browser is a headless chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each
// message ending in a NUL byte), so no port and no websocket are needed.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	w       io.WriteCloser
	in      chan map[string]any
	nextID  int
	session string
	stderr  *lockedBuf

	events []map[string]any // events received so far
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromium(t)
	toBrowserR, toBrowserW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowserR, fromBrowserW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowserR, fromBrowserW} // fd 3, fd 4
	b := &browser{t: t, cmd: cmd, w: toBrowserW, in: make(chan map[string]any, 64), stderr: &lockedBuf{}}
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowserR.Close()
	fromBrowserW.Close()
	go func() {
		defer close(b.in)
		r := bufio.NewReader(fromBrowserR)
		for {
			msg, err := r.ReadBytes(0)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(msg[:len(msg)-1], &m) == nil {
				b.in <- m
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = b.call("Browser.close", nil, false)
		b.w.Close()
		if err := cmd.Wait(); err != nil {
			t.Logf("chromium exited: %v", err)
		}
	})
	return b
}

// call sends a command (to the attached page when onPage) and returns its
// result, keeping the events that arrive meanwhile.
func (b *browser) call(method string, params map[string]any, onPage bool) (map[string]any, error) {
	b.nextID++
	id := b.nextID
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if onPage {
		msg["sessionId"] = b.session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(data, 0)); err != nil {
		return nil, err
	}
	for m := range b.in {
		if got, ok := m["id"].(float64); ok && int(got) == id {
			if e, ok := m["error"]; ok {
				return nil, fmt.Errorf("%s: %v", method, e)
			}
			res, _ := m["result"].(map[string]any)
			return res, nil
		}
		b.events = append(b.events, m)
	}
	return nil, fmt.Errorf("%s: chromium closed the pipe; its stderr:\n%s", method, b.stderr.String())
}

func (b *browser) must(method string, params map[string]any) map[string]any {
	b.t.Helper()
	res, err := b.call(method, params, true)
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// waitEvent reads until the page sends the named event.
func (b *browser) waitEvent(method string) {
	b.t.Helper()
	for _, e := range b.events {
		if e["method"] == method {
			return
		}
	}
	for m := range b.in {
		b.events = append(b.events, m)
		if m["method"] == method {
			return
		}
	}
	b.t.Fatalf("chromium closed before %s; its stderr:\n%s", method, b.stderr.String())
}

// eval runs a JavaScript expression in the page and decodes its value into v.
func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	res := b.must("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if ex, ok := res["exceptionDetails"]; ok {
		b.t.Fatalf("%s: %v", expr, ex)
	}
	raw, _ := json.Marshal(res["result"].(map[string]any)["value"])
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("%s: %v (%s)", expr, err, raw)
	}
}

// open attaches to a new page and loads url.
func (b *browser) open(url string) {
	b.t.Helper()
	res, err := b.call("Target.createTarget", map[string]any{"url": "about:blank"}, false)
	if err != nil {
		b.t.Fatal(err)
	}
	res, err = b.call("Target.attachToTarget", map[string]any{"targetId": res["targetId"], "flatten": true}, false)
	if err != nil {
		b.t.Fatal(err)
	}
	b.session = res["sessionId"].(string)
	b.must("Page.enable", nil)
	b.must("Network.enable", nil)
	b.must("Log.enable", nil)
	b.must("Runtime.enable", nil)
	b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	b.must("Page.navigate", map[string]any{"url": url})
	b.waitEvent("Page.loadEventFired")
}

// typeText types s into the focused element, key by key.
func (b *browser) typeText(s string) {
	b.t.Helper()
	for _, r := range s {
		k := string(r)
		b.must("Input.dispatchKeyEvent", map[string]any{"type": "keyDown", "key": k, "text": k, "unmodifiedText": k})
		b.must("Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": k})
	}
}

// erase presses Backspace n times.
func (b *browser) erase(n int) {
	b.t.Helper()
	for range n {
		key := map[string]any{"key": "Backspace", "code": "Backspace", "windowsVirtualKeyCode": 8, "nativeVirtualKeyCode": 8}
		key["type"] = "rawKeyDown"
		b.must("Input.dispatchKeyEvent", key)
		key["type"] = "keyUp"
		b.must("Input.dispatchKeyEvent", key)
	}
}

// visibleRows are the cells' text of the access table's rows a reader sees.
const visibleRows = `Array.from(document.querySelectorAll('#access tbody tr'))
  .filter(function (r) { return r.offsetParent !== null; })
  .map(function (r) { return Array.from(r.cells).map(function (c) { return c.innerText.trim(); }); })`

// brokenWords lists the words of the page (runs of non-space characters
// within one text node) whose characters the browser laid out on more
// than one line.
const brokenWords = `(function () {
  var out = [];
  var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (var n = walk.nextNode(); n; n = walk.nextNode()) {
    if (n.parentElement.closest('script,style,[hidden]')) { continue; }
    var re = /\S+/g, m;
    while ((m = re.exec(n.data)) !== null) {
      var r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      var tops = {};
      Array.prototype.forEach.call(r.getClientRects(), function (q) { if (q.width > 0) { tops[Math.round(q.top)] = true; } });
      if (Object.keys(tops).length > 1) { out.push(m[0]); }
    }
  }
  return out;
})()`

// TestHTMLReportInBrowser loads the story's HTML report in headless
// chromium, types a user's name into the search box, and checks that the
// rows left visible are that user's roles; then a user without access, and
// that the page made no request beyond itself.
func TestHTMLReportInBrowser(t *testing.T) {
	w := story(t)
	rep := w.report()
	path := filepath.Join(t.TempDir(), "report.html")
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, page.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	b.open("file://" + path)

	var all [][]string
	b.eval(visibleRows, &all)
	if len(all) != len(rep.Access) {
		t.Fatalf("before searching the page shows %d rows, want all %d: %q", len(all), len(rep.Access), all)
	}
	// The inline stylesheet applied (the policy allows it by its hash).
	var h1Size string
	b.eval(`getComputedStyle(document.querySelector('h1')).fontSize`, &h1Size)
	if h1Size != "24px" {
		t.Errorf("h1 font-size = %q, want the page's 24px: the inline style did not apply", h1Size)
	}

	if *screenshot != "" {
		var height int
		b.eval(`document.documentElement.scrollHeight`, &height)
		b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": false})
		shot := b.must("Page.captureScreenshot", map[string]any{"format": "png"})
		png, err := base64.StdEncoding.DecodeString(shot["data"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	}

	// No word is split over two lines, at the page's width or a narrower
	// one: a reader would take the halves for two words.
	for _, width := range []int{1280, 1024} {
		b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false})
		var broken []string
		b.eval(brokenWords, &broken)
		if len(broken) > 0 {
			t.Errorf("at %d pixels wide these words are broken over two lines: %q", width, broken)
		}
	}
	b.must("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})

	var focused bool
	b.eval(`document.getElementById('q').focus(); document.activeElement === document.getElementById('q')`, &focused)
	if !focused {
		t.Fatal("the search box cannot take the focus")
	}

	searches := []struct {
		typed string
		want  [][2]string // role, factory of each visible row
	}{
		{"alice", [][2]string{{"Reader", "adf-dev"}, {"Data Factory Contributor", "adf-prod"}, {"Reader", "adf-prod"}}},
		{"carol", nil}, // deactivated: memberships kept, no access
		{"bob", nil},   // left the group: access revoked
		{"ALICE reader", [][2]string{{"Reader", "adf-dev"}, {"Reader", "adf-prod"}}},
	}
	for _, s := range searches {
		b.typeText(s.typed)
		var rows [][]string
		b.eval(visibleRows, &rows)
		var shown string
		b.eval(`document.getElementById('shown').textContent`, &shown)
		var noneVisible bool
		b.eval(`!document.getElementById('none').hidden`, &noneVisible)

		var got [][2]string
		for _, r := range rows {
			if !strings.HasPrefix(r[0], "alice@contoso.com") {
				t.Errorf("searching %q shows a row of someone else: %q", s.typed, r)
			}
			got = append(got, [2]string{r[1], r[2]})
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("searching %q shows roles %v, want %v", s.typed, got, s.want)
		}
		if shown != fmt.Sprint(len(s.want)) {
			t.Errorf("searching %q: the counter says %q rows, want %d", s.typed, shown, len(s.want))
		}
		if noneVisible != (len(s.want) == 0) {
			t.Errorf("searching %q: the no-match note visible = %v", s.typed, noneVisible)
		}
		b.erase(len([]rune(s.typed)))
	}
	b.eval(visibleRows, &all)
	if len(all) != len(rep.Access) {
		t.Errorf("after clearing the search the page shows %d rows, want %d", len(all), len(rep.Access))
	}

	// Offline and self-contained: the only request is the file itself, and
	// the browser reported no policy violation or script error.
	for _, e := range b.events {
		params, _ := e["params"].(map[string]any)
		switch e["method"] {
		case "Network.requestWillBeSent":
			url, _ := params["request"].(map[string]any)["url"].(string)
			if url != "file://"+path {
				t.Errorf("the page requested %q", url)
			}
		case "Log.entryAdded", "Runtime.exceptionThrown":
			raw, _ := json.Marshal(params)
			t.Errorf("the browser reported %s: %s", e["method"], raw)
		}
	}
}

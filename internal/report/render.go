package report

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Formats a report is written in, and their media types.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
	FormatHTML = "html"
	// FormatDeprovisioningCSV is the deprovisioning evidence as CSV
	// (WriteDeprovisioningCSV), for sampling leavers.
	FormatDeprovisioningCSV = "deprovisioning-csv"

	ContentTypeJSON = "application/json; charset=utf-8"
	ContentTypeCSV  = "text/csv; charset=utf-8"
	ContentTypeHTML = "text/html; charset=utf-8"
)

// ErrFormat is wrapped when Write is asked for an unknown format.
var ErrFormat = fmt.Errorf("report: unknown format (want %s, %s or %s)", FormatJSON, FormatCSV, FormatHTML)

// ContentType is the media type of a format ("" when unknown).
func ContentType(format string) string {
	switch format {
	case FormatJSON:
		return ContentTypeJSON
	case FormatCSV, FormatDeprovisioningCSV:
		return ContentTypeCSV
	case FormatHTML:
		return ContentTypeHTML
	}
	return ""
}

// Write writes r in format (json, csv or html).
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatJSON:
		return WriteJSON(w, r)
	case FormatCSV:
		return WriteCSV(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	case FormatDeprovisioningCSV:
		return WriteDeprovisioningCSV(w, r)
	}
	return fmt.Errorf("%w: %q", ErrFormat, format)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the first line of WriteCSV's output.
var CSVHeader = []string{"status", "user_name", "user_id", "principal_type", "principal_id", "groups", "role", "role_id",
	"factory", "factory_id", "since", "last_change_time", "last_change_action", "last_change_actor", "last_change_target", "assignment_id"}

// WriteCSV writes the access table (every assignment held, shadow access
// included, one row each) as CSV for spreadsheets. Cells a spreadsheet would
// run as a formula are prefixed with a quote.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, a := range r.Access {
		row := []string{a.Status, a.UserName, a.UserID, a.PrincipalType, a.PrincipalID, through(a.Groups, a.DirectGrants), a.Role, a.RoleID,
			a.Factory, a.FactoryID, fmtTimePtr(a.Since, time.RFC3339), "", "", "", "", a.AssignmentID}
		if e := a.LastChange; e != nil {
			row[11], row[12], row[13], row[14] = e.Time.Format(time.RFC3339), e.Action, e.Actor, e.Target
		}
		for i, c := range row {
			row[i] = csvSafe(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formula injection in a CSV cell.
func csvSafe(c string) string {
	if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
		return "'" + c
	}
	return c
}

func groupNames(gs []GroupRef) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.DisplayName
	}
	return strings.Join(names, "; ")
}

// through says what access comes through: its groups, then its direct
// grants with the client that granted each.
func through(gs []GroupRef, ds []DirectGrant) string {
	parts := []string{}
	if g := groupNames(gs); g != "" {
		parts = append(parts, g)
	}
	for _, d := range ds {
		p := "direct grant"
		if d.GrantedBy != "" {
			p += " by " + d.GrantedBy
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func fmtTimePtr(t *time.Time, layout string) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(layout)
}

// The page's only style and script, inline; the Content-Security-Policy
// allows exactly these (by hash) and nothing else, so the page makes no
// request of any kind and works offline.
const pageCSS = `
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700}
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
header,main,footer{max-width:1280px;margin:0 auto;padding:0 24px}
header{padding-top:20px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.meta{color:var(--muted);margin:0 0 12px}
.trail{border:1px solid var(--line);border-left:6px solid var(--muted);padding:8px 12px;border-radius:6px;background:var(--bg)}
.trail.ok{border-left-color:var(--ok)}.trail.bad{border-left-color:var(--bad);background:#ffebe9}
.trail code{font-size:12px;overflow-wrap:anywhere}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:14px 0 0}
.card{border:1px solid var(--line);border-radius:6px;padding:6px 12px;min-width:120px;background:var(--bg)}
.card b{display:block;font-size:20px}.card span{color:var(--muted);font-size:12px}
.card.alert{border-color:var(--bad)}.card.alert b{color:var(--bad)}
.search{display:flex;align-items:center;gap:10px;margin:8px 0}
.search input{font:inherit;padding:6px 10px;width:360px;max-width:100%;border:1px solid var(--line);border-radius:6px}
.search label{font-weight:600}
#count{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:4px 0 8px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600;position:sticky;top:0}
small,.id{color:var(--muted);font-size:11px}
.nw{white-space:nowrap}
td.ch{min-width:300px}td.ch div+div{margin-top:2px}
.note{color:var(--muted);margin:0 0 8px}
dl.actors{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.actors dt{font-weight:600}dl.actors dd{margin:0;color:var(--muted)}
tr.shadow td{background:#fff8c5}tr.revoke td{background:#ffebe9}
.tag{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;border:1px solid var(--line);white-space:nowrap}
.tag.granted{color:var(--ok);border-color:var(--ok)}.tag.shadow{color:var(--warn);border-color:var(--warn)}.tag.revoke{color:var(--bad);border-color:var(--bad)}
.fail{color:var(--bad)}
td.t{white-space:nowrap}
.empty{color:var(--muted);font-style:italic}
footer{color:var(--muted);margin:28px auto 32px;font-size:12px}
@media print{.search{display:none}th{position:static}}
`

const pageJS = `
(function () {
  var q = document.getElementById('q');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#access tbody tr'));
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
  var shown = document.getElementById('shown');
  var none = document.getElementById('none');
  function filter() {
    var terms = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var n = 0;
    rows.forEach(function (r, i) {
      var hit = terms.every(function (t) { return texts[i].indexOf(t) >= 0; });
      r.hidden = !hit;
      if (hit) { n++; }
    });
    shown.textContent = String(n);
    none.hidden = n > 0 || rows.length === 0;
  }
  q.addEventListener('input', filter);
  filter();
})();
`

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// ContentSecurityPolicy is the policy of the HTML page: no source but its
// own inline style and script. The page carries it in a meta element; the
// HTTP route sends it as a header too.
var ContentSecurityPolicy = "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(pageJS) +
	"; img-src 'none'; base-uri 'none'; form-action 'none'"

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
	"tsp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04") + " UTC"
	},
	"groups":   func(gs []GroupRef) template.HTML { return words(groupNames(gs)) },
	"through":  func(gs []GroupRef, ds []DirectGrant) template.HTML { return words(through(gs, ds)) },
	"statusCl": statusClass,
	"words":    words,
	"actor":    DescribeActor,
	"static":   func(a string) bool { return a == StaticTokenActor },
	"sub":      func(a, b int) int { return a - b },
	"deref":    func(t *time.Time) time.Time { return *t },
}).Parse(pageTemplate))

// words escapes text for the page and keeps every word that holds a
// hyphen (an object id, "adf-prod", "entra-prod") on one line: a browser
// would otherwise break it after a hyphen, and a reader would take the
// halves for two words.
func words(s string) template.HTML {
	var b strings.Builder
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			b.WriteByte(' ')
		}
		esc := template.HTMLEscapeString(w)
		if strings.ContainsAny(w, "-‐") && len(w) > 1 {
			b.WriteString(`<span class="nw">` + esc + `</span>`)
		} else {
			b.WriteString(esc)
		}
	}
	return template.HTML(b.String())
}

func statusClass(s string) string {
	switch s {
	case StatusGranted:
		return "granted"
	case StatusShadow:
		return "shadow"
	case StatusRevokePending:
		return "revoke"
	}
	return ""
}

// WriteHTML writes the report as one self-contained HTML page: summary, the
// audit trail's status, a searchable access table, drift findings, inactive
// users, unresolved principals, pending changes and recent changes. It loads
// nothing from anywhere.
func WriteHTML(w io.Writer, r *Report) error {
	return page.Execute(w, map[string]any{
		"R": r, "CSS": template.CSS(pageCSS), "JS": template.JS(pageJS), "CSP": ContentSecurityPolicy,
	})
}

const pageTemplate = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adfscim access report, {{ts .R.Generated}}</title>
<style>{{.CSS}}</style>
</head>
<body>
{{- $r := .R}}
<header>
<h1>Access report: Azure Data Factory roles granted from SCIM groups</h1>
<p class="meta">Generated {{ts $r.Generated}} by adfscim. Every row is a role assignment Azure holds on a mapped factory, joined with the SCIM state and the audit trail.</p>
<div id="trail" class="trail {{if not $r.Trail.Checked}}unchecked{{else if $r.Trail.OK}}ok{{else}}bad{{end}}">
<strong>Audit trail:</strong> {{$r.Trail.Status}}{{if $r.Trail.Error}} ({{$r.Trail.Error}}){{end}}
{{- if $r.Trail.LastHash}}<br><small>Anchor for the next audit (adfscim audit verify --anchor): <code>{{$r.Trail.LastSeq}}:{{$r.Trail.LastHash}}</code></small>{{end}}
</div>
{{- range $r.Budget}}{{if or .Over .Error}}
<div class="trail bad"><strong>Role assignment budget:</strong> {{.}}. New access is held back here: use group mode or eligible bindings (runbook).</div>
{{- end}}{{end}}
<div class="cards">
<div class="card"><b>{{$r.Summary.Granted}}</b><span>assignments granted</span></div>
{{- if $r.Summary.RevokePending}}
<div class="card alert"><b>{{$r.Summary.RevokePending}}</b><span>held, revocation pending</span></div>
{{- end}}
<div class="card{{if $r.Summary.Shadow}} alert{{end}}"><b>{{$r.Summary.Shadow}}</b><span>shadow access (drift)</span></div>
<div class="card"><b>{{$r.Summary.ActiveMembers}}</b><span>active members</span></div>
<div class="card"><b>{{$r.Summary.Inactive}}</b><span>inactive users</span></div>
<div class="card{{if $r.Summary.Unresolved}} alert{{end}}"><b>{{$r.Summary.Unresolved}}</b><span>unresolved principals</span></div>
<div class="card{{if $r.Summary.Pending}} alert{{end}}"><b>{{$r.Summary.Pending}}</b><span>pending changes</span></div>
<div class="card"><b>{{$r.Summary.MappedGroups}}</b><span>mapped groups</span></div>
<div class="card"><b>{{$r.Summary.Factories}}</b><span>factories</span></div>
</div>
</header>
<main>
<h2 id="access-h">Who holds which role</h2>
<div class="search"><label for="q">Search</label><input id="q" type="search" placeholder="user, group, role or factory" autocomplete="off" autofocus>
<span id="count"><span id="shown">{{len $r.Access}}</span> of {{len $r.Access}} rows</span></div>
<table id="access">
<thead><tr><th>User or principal</th><th>Role</th><th>Factory</th><th>Through group</th><th>Since</th><th>Last change</th><th>Status</th></tr></thead>
<tbody>
{{- range $r.Access}}
<tr class="{{statusCl .Status}}"><td>{{if .UserName}}{{words .UserName}}<br>{{end}}<small>{{.PrincipalType}} <span class="nw">{{.PrincipalID}}</span></small></td><td>{{.Role}}{{if .Grant}}<br><small>{{.Grant}}</small>{{end}}</td><td class="nw" title="{{.FactoryID}}">{{.Factory}}</td><td>{{through .Groups .DirectGrants}}</td><td>{{with .Since}}{{tsp .}}{{else}}<span class="empty">not in trail</span>{{end}}</td><td>{{with .LastChange}}{{ts .Time}}<br><small>{{.Action}} by <span class="nw" title="{{actor .Actor}}">{{.Actor}}</span></small>{{end}}</td><td><span class="tag {{statusCl .Status}}">{{.Status}}</span></td></tr>
{{- end}}
</tbody>
</table>
<p id="none" class="empty" hidden>No row matches the search.</p>
{{- if not $r.Access}}<p class="empty">No role assignment of a mapped role is held on any mapped factory.</p>{{end}}

<h2 id="drift">Drift findings: shadow access adfscim did not grant</h2>
{{- if $r.Drift}}
<table>
<thead><tr><th>Principal</th><th>Role</th><th>Factory</th><th>First seen</th><th>Covers the mapping</th><th>Description</th></tr></thead>
<tbody>
{{- range $r.Drift}}
<tr><td>{{if .UserName}}{{words .UserName}}<br>{{end}}<small>{{.PrincipalType}} <span class="nw">{{.PrincipalID}}</span></small></td><td>{{.Role}}</td><td class="nw" title="{{.FactoryID}}">{{.Factory}}</td><td>{{with .Since}}{{tsp .}}{{else}}<span class="empty">not in trail</span>{{end}}</td><td>{{if .CoversDesired}}yes{{else}}no: access beyond the mapping{{end}}</td><td>{{words .Description}}</td></tr>
{{- end}}
</tbody>
</table>
<p>adfscim never removes an assignment it did not make. Review each finding with the factory's owner.</p>
{{- else}}<p class="empty">None: every assignment of a mapped role on a mapped factory was made by adfscim.</p>{{end}}

<h2 id="inactive">Inactive users (memberships kept, no access)</h2>
{{- if $r.Inactive}}
<table>
<thead><tr><th>User</th><th>Still member of</th><th>Assignments held</th><th>Last change</th></tr></thead>
<tbody>
{{- range $r.Inactive}}
<tr><td>{{words .UserName}}<br><small class="nw">{{.UserID}}</small></td><td>{{groups .Groups}}</td><td>{{if .Held}}<span class="fail">{{.Held}}: should be 0</span>{{else}}0{{end}}</td><td>{{with .LastChange}}{{ts .Time}}<br><small>{{.Action}} by <span class="nw" title="{{actor .Actor}}">{{.Actor}}</span></small>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}<p class="empty">None.</p>{{end}}

<h2 id="unresolved">Unresolved principals</h2>
{{- if or $r.Unresolved $r.Problems}}
<table>
<thead><tr><th>User</th><th>Why no access is granted</th></tr></thead>
<tbody>
{{- range $r.Unresolved}}
<tr><td>{{words .UserName}}<br><small class="nw">{{.UserID}}</small></td><td>{{words .Reason}}</td></tr>
{{- end}}
{{- range $r.Problems}}
<tr><td>(binding)</td><td>{{words .}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}<p class="empty">None: every active member has a known Entra object id.</p>{{end}}

<h2 id="pending">Pending changes (a reconcile would make them now)</h2>
{{- if $r.Pending}}
<table>
<thead><tr><th>Change</th><th>User or principal</th><th>Role</th><th>Factory</th><th>Through group</th></tr></thead>
<tbody>
{{- range $r.Pending}}
<tr><td>{{.Op}}</td><td>{{if .UserName}}{{words .UserName}}<br>{{end}}<small>{{.PrincipalType}} <span class="nw">{{.PrincipalID}}</span></small></td><td>{{.Role}}</td><td class="nw" title="{{.FactoryID}}">{{.Factory}}</td><td>{{through .Groups .DirectGrants}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}<p class="empty">None: Azure holds exactly what the mapping grants.</p>{{end}}

<h2 id="deprovisioning">Deprovisioning: when access ended</h2>
{{- $d := $r.Deprovisioning}}
<p id="deprov-note" class="note">Every role assignment an identity provider's request took away (deactivation, removal from a group, deletion): the audit record of the request, the <code>rbac.unassign</code> record written when ARM confirmed the deletion, and the time between them. Target: {{$d.Target}}; slower is a breach. {{$d.Done}} done, {{$d.Open}} open, {{$d.Breaches}} {{if eq $d.Breaches 1}}breach{{else}}breaches{{end}}.{{if $d.Unattributed}} Not timed: {{$d.Unattributed}} {{if eq $d.Unattributed 1}}deletion{{else}}deletions{{end}} without an IdP request in the trail (a mapping change, or a request older than the trail).{{end}}</p>
{{- if $d.Periods}}
<table id="deprov-periods">
<thead><tr><th>Month (UTC)</th><th>Done</th><th>Median</th><th>95th percentile</th><th>Worst</th><th>Breaches</th><th>Open</th></tr></thead>
<tbody>
{{- range $d.Periods}}
<tr><td>{{.Period}}</td><td>{{.Count}}</td><td>{{.MedianHuman}}</td><td>{{.P95Human}}</td><td>{{.WorstHuman}}{{if .WorstSeq}} <small>(request seq {{.WorstSeq}})</small>{{end}}</td><td>{{if .Breaches}}<span class="fail">{{.Breaches}}</span>{{else}}0{{end}}</td><td>{{.Open}}</td></tr>
{{- end}}
</tbody>
</table>
<table id="deprov">
<thead><tr><th>User or principal</th><th>Role</th><th>Factory</th><th>Request</th><th>Requested</th><th>Confirmed by ARM</th><th>Elapsed</th><th>Breach and cause</th></tr></thead>
<tbody>
{{- range $rv := $d.Revocations}}
<tr class="{{if .Breach}}revoke{{end}}" data-status="{{.Status}}"><td>{{if .UserName}}{{words .UserName}}<br>{{end}}<small class="nw">{{.PrincipalID}}</small></td><td>{{.Role}}</td><td class="nw" title="{{.FactoryID}}">{{.Factory}}</td><td>{{words .Reason}}<br><small>by {{.RequestActor}}</small></td><td class="t">{{ts .Requested}}<br><small>seq {{.RequestSeq}}</small></td><td class="t">{{with .Confirmed}}{{ts (deref .)}}<br><small>seq {{$rv.ConfirmSeq}}</small>{{else}}<span class="fail">{{.Status}}</span>{{end}}</td><td class="t">{{.Elapsed}}</td><td>{{if .Breach}}<span class="fail">breach</span>: {{words .Cause}}{{if .Evidence}}<br><small>records {{range $i, $s := .Evidence}}{{if $i}}, {{end}}{{$s}}{{end}}</small>{{end}}{{else}}no{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}<p class="empty">None: the trail shows no loss of access.</p>{{end}}
<p class="note">The identity provider's own cycle comes before this: Entra ID provisions about every 40 minutes, so a leaver's request may arrive that long after the change in Entra. After ARM confirms a deletion, Azure documents up to 10 minutes for it to take effect.</p>

<h2 id="recent">Recent changes</h2>
<p id="recent-count" class="note">
{{- if eq (len $r.Recent) $r.RecentOf}}All {{$r.RecentOf}} user, group and role assignment records of the trail, newest first.
{{- else}}The {{len $r.Recent}} newest of the trail's {{$r.RecentOf}} user, group and role assignment records; the {{sub $r.RecentOf (len $r.Recent)}} older ones are not listed here.{{end}}
{{- if $r.OtherRecords}} Not listed either: the trail's {{$r.OtherRecords}} other {{if eq $r.OtherRecords 1}}record{{else}}records{{end}} (refused requests, tokens, configuration, retention).{{end}}
{{- if or $r.OtherRecords (ne (len $r.Recent) $r.RecentOf)}} <code>adfscim audit export</code> has every record.{{end}}</p>
{{- if $r.Recent}}
<table>
<thead><tr><th>Time</th><th>Seq</th><th>Actor</th><th>Action</th><th>Target</th><th>Outcome</th><th>What changed</th></tr></thead>
<tbody>
{{- range $r.Recent}}
<tr><td class="t">{{ts .Time}}</td><td>{{.Seq}}</td><td class="nw" title="{{actor .Actor}}">{{.Actor}}{{if static .Actor}}<br><small>static token</small>{{end}}</td><td class="nw">{{.Action}}</td><td>{{words .Target}}</td><td>{{if .Success}}ok{{else}}<span class="fail">failed</span>{{with .Detail}}: {{words .}}{{end}}{{end}}</td><td class="ch">{{range .ChangeList}}<div>{{words .}}</div>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if $r.Actors}}
<h2 id="actors">Who acted</h2>
<dl class="actors">
{{- range $r.Actors}}
<dt>{{.Name}}</dt><dd>{{.Description}}</dd>
{{- end}}
</dl>
{{- end}}
</main>
<footer>
Sources: the SCIM state (users, groups, memberships, active flags), the role assignments Azure lists on each mapped factory, and the audit trail.
"Since" is when adfscim's rbac.assign record created the assignment (for shadow access: when drift was first recorded).
Check the trail yourself with <code>adfscim audit verify</code>; export it with <code>adfscim audit export --format csv</code>.
</footer>
<script>{{.JS}}</script>
</body>
</html>
`

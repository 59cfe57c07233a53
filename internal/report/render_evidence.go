package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

// Tables of the report WriteTable writes as CSV.
const (
	TableAccess         = "access"
	TableDeprovisioning = "deprovisioning"
)

// WriteTable writes one table of the report as CSV: the access table
// (WriteCSV) or the deprovisioning evidence (WriteDeprovisioningCSV).
func WriteTable(w io.Writer, r *Report, table string) error {
	switch table {
	case TableAccess, "":
		return WriteCSV(w, r)
	case TableDeprovisioning:
		return WriteDeprovisioningCSV(w, r)
	}
	return fmt.Errorf("report: unknown table %q (want %s or %s)", table, TableAccess, TableDeprovisioning)
}

// DeprovisioningCSVHeader is the first line of WriteDeprovisioningCSV's output.
var DeprovisioningCSVHeader = []string{"status", "user_name", "user_id", "principal_type", "principal_id", "role", "role_id", "factory", "factory_id",
	"reason", "request_seq", "requested", "request_actor", "confirm_seq", "confirmed", "elapsed_seconds", "elapsed",
	"target_seconds", "breach", "cause", "evidence_seqs"}

// WriteDeprovisioningCSV writes one row per revocation, for sampling
// leavers: the request's and the confirmation's sequence numbers and
// times, the elapsed time, whether it breached the target and why.
func WriteDeprovisioningCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(DeprovisioningCSVHeader); err != nil {
		return err
	}
	d := r.Deprovisioning
	for _, rv := range d.Revocations {
		confirmSeq := ""
		if rv.ConfirmSeq != 0 {
			confirmSeq = strconv.FormatUint(rv.ConfirmSeq, 10)
		}
		ev := make([]string, len(rv.Evidence))
		for i, s := range rv.Evidence {
			ev[i] = strconv.FormatUint(s, 10)
		}
		row := []string{rv.Status, rv.UserName, rv.UserID, rv.PrincipalType, rv.PrincipalID, rv.Role, rv.RoleID, rv.Factory, rv.FactoryID,
			rv.Reason, strconv.FormatUint(rv.RequestSeq, 10), rv.Requested.Format(time.RFC3339), rv.RequestActor, confirmSeq,
			fmtTimePtr(rv.Confirmed, time.RFC3339), strconv.FormatFloat(rv.ElapsedSeconds, 'f', 0, 64), rv.Elapsed,
			strconv.FormatFloat(d.TargetSeconds, 'f', 0, 64), strconv.FormatBool(rv.Breach), rv.Cause, strings.Join(ev, " ")}
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

// WriteSheet writes a review sheet in format (json, csv or html).
func WriteSheet(w io.Writer, s *Sheet, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case FormatCSV:
		return WriteSheetCSV(w, s)
	case FormatHTML:
		return sheetPage.Execute(w, map[string]any{"S": s, "CSS": template.CSS(pageCSS), "CSP": SheetContentSecurityPolicy})
	}
	return fmt.Errorf("%w: %q", ErrFormat, format)
}

// SheetCSVHeader is the first line of WriteSheetCSV's output: the
// canonical columns (CanonicalHeader), then context for the reviewer and
// empty decision and note columns to fill in.
var SheetCSVHeader = append(append([]string{}, CanonicalHeader...),
	"factory", "role", "principal_type", "last_change_time", "last_change_action", "last_change_actor", "previous_decision", "decision", "note")

// WriteSheetCSV writes the sheet as CSV for the factory's owner: one row
// per line, the sheet's digest in a last row ("#digest").
func WriteSheetCSV(w io.Writer, s *Sheet) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(SheetCSVHeader); err != nil {
		return err
	}
	for _, l := range s.Lines {
		row := []string{l.ID, l.FactoryID, l.RoleID, l.PrincipalID, l.UserName, l.Kind, l.Via, fmtTimePtr(l.Since, time.RFC3339),
			l.Factory, l.Role, l.PrincipalType, "", "", "", l.Previous, "", ""}
		if e := l.LastChange; e != nil {
			row[11], row[12], row[13] = e.Time.Format(time.RFC3339), e.Action, e.Actor
		}
		for i, c := range row {
			row[i] = csvSafe(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	if err := cw.Write([]string{"#digest", s.Digest}); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// SheetContentSecurityPolicy is the policy of the review page: its own
// inline style and nothing else (it has no script).
var SheetContentSecurityPolicy = "default-src 'none'; style-src " + cspHash(pageCSS) + "; img-src 'none'; base-uri 'none'; form-action 'none'"

// sheetGroup is the lines of one factory and role.
type sheetGroup struct {
	Factory, FactoryID, Role string
	Lines                    []SheetLine
}

func groupSheet(lines []SheetLine) []sheetGroup {
	var out []sheetGroup
	for _, l := range lines {
		if n := len(out); n > 0 && out[n-1].FactoryID == l.FactoryID && out[n-1].Role == l.Role {
			out[n-1].Lines = append(out[n-1].Lines, l)
			continue
		}
		out = append(out, sheetGroup{Factory: l.Factory, FactoryID: l.FactoryID, Role: l.Role, Lines: []SheetLine{l}})
	}
	return out
}

var sheetPage = template.Must(template.New("sheet").Funcs(template.FuncMap{
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
	"tsp":   func(t *time.Time) string { return fmtTimePtr(t, "2006-01-02 15:04") },
	"words": words,
	"group": groupSheet,
}).Parse(sheetTemplate))

const sheetTemplate = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adfscim access review{{with .S.Factory}} of {{.}}{{end}}, {{ts .S.Generated}}</title>
<style>{{.CSS}}</style>
</head>
<body>
{{- $s := .S}}
<header>
<h1>Access review{{with $s.Factory}}: {{.}}{{else}}: all factories{{end}}</h1>
<p class="meta">Generated {{ts $s.Generated}} by adfscim. For each factory and role: who holds it, through which group, since when, and the last change. Decide <b>keep</b> or <b>remove</b> for every line.</p>
<div id="trail" class="trail {{if not $s.Trail.Checked}}unchecked{{else if $s.Trail.OK}}ok{{else}}bad{{end}}"><strong>Audit trail:</strong> {{$s.Trail.Status}}</div>
<p class="meta">Sheet digest (name it when you upload the decisions): <code id="digest">{{$s.Digest}}</code></p>
</header>
<main>
<h2 id="previous-h">Previous review</h2>
{{- with $s.Previous}}
<p id="previous">Completed {{ts .Time}} by {{.Reviewer}} (uploaded by {{.Actor}}, audit record {{.Seq}}): {{.Lines}} lines, {{.Keep}} kept, {{.Remove}} to remove. Sheet digest <code>{{.SheetDigest}}</code>.</p>
{{- if $s.FollowUps}}
<table id="followups">
<thead><tr><th>Removal decided</th><th>Role</th><th>Factory</th><th>Action for the identity provider's owner</th><th>Now</th></tr></thead>
<tbody>
{{- range $s.FollowUps}}
<tr class="{{if eq .Status "not carried out"}}revoke{{end}}"><td>{{if .UserName}}{{words .UserName}}{{else}}<span class="nw">{{.PrincipalID}}</span>{{end}}{{with .Note}}<br><small>{{.}}</small>{{end}}</td><td>{{.Role}}</td><td class="nw">{{.Factory}}</td><td>{{words .Action}}</td><td><span class="tag {{if eq .Status "carried out"}}granted{{else}}revoke{{end}}">{{.Status}}</span></td></tr>
{{- end}}
</tbody>
</table>
{{- else}}<p class="empty">It decided no removal.</p>{{end}}
{{- else}}<p id="previous" class="empty">None recorded in the audit trail.</p>{{end}}

{{- range group $s.Lines}}
<h2 class="role">{{.Role}} on {{.Factory}}</h2>
<table class="lines">
<thead><tr><th>Line</th><th>Holder</th><th>Through</th><th>Since</th><th>Last change</th><th>Previous decision</th><th>Decision</th></tr></thead>
<tbody>
{{- range .Lines}}
<tr class="{{if eq .Kind "shadow"}}shadow{{else if eq .Kind "revoke pending"}}revoke{{end}}"><td><code>{{.ID}}</code></td><td>{{if .UserName}}{{words .UserName}}<br>{{end}}<small>{{.PrincipalType}} <span class="nw">{{.PrincipalID}}</span></small></td><td>{{.Kind}}: {{words .Via}}</td><td>{{with .Since}}{{tsp .}}{{else}}<span class="empty">not in trail</span>{{end}}</td><td>{{with .LastChange}}{{ts .Time}}<br><small>{{.Action}} by {{.Actor}}</small>{{end}}</td><td>{{.Previous}}</td><td>keep / remove</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="empty">No role of the mapping is held{{with $s.Factory}} on {{.}}{{end}}.</p>
{{- end}}
</main>
<footer>
Upload the decisions with a token holding ops.write: POST /ops/v1/review with {"reviewer": "your name", "sheetDigest": "{{$s.Digest}}",{{with $s.Factory}} "factory": "{{.}}",{{end}} "decisions": [{"line": "…", "decision": "keep" or "remove", "note": "…"}]}.
adfscim records the review in its audit trail; removals are carried out in the identity provider (adfscim does not override it), and the next sheet shows whether they were.
</footer>
</body>
</html>
`

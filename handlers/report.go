package handlers

import (
	"bytes"
	"context"
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
)

// Reporter builds the access report; *report.Builder implements it.
type Reporter interface {
	Build(ctx context.Context) (*report.Report, error)
}

// accessReport answers GET /ops/v1/report?format=json|csv|html: the access
// report, JSON by default. The page is rendered whole before anything is
// sent, so a failure is a clean error rather than half a report.
func (s *Server) accessReport(w http.ResponseWriter, r *http.Request) {
	format := strings.ToLower(r.URL.Query().Get("format"))
	if format == "" {
		format = formatFromAccept(r.Header.Get("Accept"))
	}
	ct := report.ContentType(format)
	if ct == "" || format == report.FormatDeprovisioningCSV {
		writeError(w, r, scim.BadRequest(scim.ErrInvalidValue, "format must be json, csv or html"))
		return
	}
	switch table := strings.ToLower(r.URL.Query().Get("table")); {
	case table == "" || table == report.TableAccess:
	case table == report.TableDeprovisioning && format == report.FormatCSV:
		format = report.FormatDeprovisioningCSV
	default:
		writeError(w, r, scim.BadRequest(scim.ErrInvalidValue, "table must be access or deprovisioning, with format=csv (JSON and HTML hold every table)"))
		return
	}
	rep, err := s.opts.Report.Build(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := report.Write(&b, rep, format); err != nil {
		writeError(w, r, err)
		return
	}
	name := "adfscim-access-" + rep.Generated.UTC().Format("20060102T150405Z") + "." + format
	if format == report.FormatDeprovisioningCSV {
		name = "adfscim-deprovisioning-" + rep.Generated.UTC().Format("20060102T150405Z") + ".csv"
	}
	switch format {
	case report.FormatHTML:
		writeDocument(w, b.Bytes(), ct, report.ContentSecurityPolicy, "inline", name)
	case report.FormatCSV, report.FormatDeprovisioningCSV:
		writeDocument(w, b.Bytes(), ct, "", "attachment", name)
	default:
		writeDocument(w, b.Bytes(), ct, "", "", "")
	}
}

// writeDocument answers 200 with a report or review document: never cached
// and never sniffed; csp, when given, is the page's content security
// policy, and disposition ("inline" or "attachment", or none) names the
// file a browser shows or saves.
func writeDocument(w http.ResponseWriter, body []byte, contentType, csp, disposition, name string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept")
	if csp != "" {
		h.Set("Content-Security-Policy", csp)
	}
	if disposition != "" {
		h.Set("Content-Disposition", disposition+`; filename="`+name+`"`)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// formatFromAccept picks the report format from an Accept header when the
// query does not name one: a browser asking for text/html gets the page,
// text/csv the table, anything else JSON.
func formatFromAccept(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/html":
			return report.FormatHTML
		case "text/csv":
			return report.FormatCSV
		case "application/json":
			return report.FormatJSON
		}
	}
	return report.FormatJSON
}

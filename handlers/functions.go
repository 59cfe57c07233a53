package handlers

import (
	"encoding/json"
	"io"
	"net/http"
)

// timerRequest is what the Azure Functions host posts to a custom handler
// for a timer trigger: {"Data":{"<binding>":{...,"IsPastDue":false}},"Metadata":{...}}.
type timerRequest struct {
	Data map[string]struct {
		IsPastDue bool `json:"IsPastDue"`
	} `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// invocationResponse is the custom handler's answer to an invocation.
type invocationResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// timer runs a timer-triggered function. A failure answers 500, which the
// host records as a failed run.
func (s *Server) timer(w http.ResponseWriter, r *http.Request, name string, fn TimerFunc) {
	infoFrom(r.Context()).route = "/" + name
	var req timerRequest
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
	if err == nil && len(raw) > 0 {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		s.opts.Logger.Warn().Err(err).Str("function", name).Msg("unreadable invocation payload; running anyway")
	}
	pastDue := false
	for _, b := range req.Data {
		pastDue = pastDue || b.IsPastDue
	}
	logs, err := fn(r.Context(), pastDue)
	if logs == nil {
		logs = []string{}
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusInternalServerError
		infoFrom(r.Context()).err = err
		logs = append(logs, name+" failed: "+err.Error())
	}
	b, _ := json.Marshal(invocationResponse{Outputs: map[string]any{}, Logs: logs, ReturnValue: nil})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

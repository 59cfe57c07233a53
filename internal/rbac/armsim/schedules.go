package armsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/store"
)

// PIM's schedule APIs (api-version 2020-10-01), kept in the same store
// partition as the scope's role assignments:
//
//	"es:"+principal|role   an eligibility schedule
//	"ts:"+principal|role   an assigned role assignment schedule (time-bound or not)
//	"xs:"+principal|role   an activation (an activated role assignment schedule)
//	"rq:"+name             a schedule request, kept so that a retried PUT answers the same
//
// An assigned schedule and an activation hold a role assignment (row "a:",
// named like the schedule) for as long as they last, so that role assignment
// lists show it and a second one for the same principal and role is refused,
// as in Azure. Schedules past their end expire when their scope is next read.
const (
	eligPrefix = "es:"
	asgPrefix  = "ts:"
	actPrefix  = "xs:"
	reqPrefix  = "rq:"
)

// schedule is one stored schedule.
type schedule struct {
	Name           string    `json:"name"`
	Scope          string    `json:"scope"`
	PrincipalID    string    `json:"principalId"`
	PrincipalType  string    `json:"principalType,omitempty"`
	RoleDefID      string    `json:"roleDefinitionId"`
	Request        string    `json:"request"` // name of the last request that shaped it
	Start          time.Time `json:"start"`
	End            time.Time `json:"end,omitzero"`
	LinkedEligible string    `json:"linkedEligible,omitempty"` // activation: the eligibility schedule's id
	Assignment     string    `json:"assignment,omitempty"`     // role assignment name held
}

// request is one stored schedule request.
type request struct {
	Kind string          `json:"kind"` // "eligibility" or "assignment"
	Body json.RawMessage `json:"body"`
}

var schedPathRe = regexp.MustCompile(`(?i)^(.*)/providers/microsoft\.authorization/(roleeligibilityschedulerequests|roleassignmentschedulerequests|roleeligibilityschedules|roleassignmentschedules|roleassignmentscheduleinstances)(?:/([^/]+))?/?$`)

// serveSchedules answers the schedule APIs; ok is false for other paths.
func (t *Transport) serveSchedules(req *http.Request) (*http.Response, bool, error) {
	m := schedPathRe.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return nil, false, nil
	}
	if err := t.sim.wait(req.Context()); err != nil {
		return nil, true, err
	}
	scope, coll, name := normScope(m[1]), strings.ToLower(m[2]), m[3]
	s := t.sim
	switch {
	case req.Method == http.MethodPut && name != "" && strings.HasSuffix(coll, "requests"):
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, true, err
		}
		status, v, err := s.scheduleRequest(req.Context(), scope, strings.TrimSuffix(coll, "schedulerequests"), strings.ToLower(name), body)
		if err != nil {
			return nil, true, err
		}
		resp, err := jsonResponse(req, status, v)
		return resp, true, err
	case req.Method == http.MethodGet && name == "" && !strings.HasSuffix(coll, "requests"):
		all, status, err := s.listSchedules(req.Context(), scope, coll, req.URL.Query().Get("$filter"))
		if err != nil {
			return nil, true, err
		}
		if status != http.StatusOK {
			resp, err := jsonResponse(req, status, armError("InvalidFilter", "armsim: unsupported filter"))
			return resp, true, err
		}
		resp, err := jsonResponse(req, http.StatusOK, map[string]any{"value": all})
		return resp, true, err
	}
	resp, err := jsonResponse(req, http.StatusMethodNotAllowed, armError("MethodNotAllowed", "armsim: not simulated"))
	return resp, true, err
}

func armError(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

// reqProps is what the simulator reads of either kind of request.
type reqProps struct {
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	RequestType      string `json:"requestType"`
	Justification    string `json:"justification"`
	LinkedEligible   string `json:"linkedRoleEligibilityScheduleId"`
	ScheduleInfo     *struct {
		StartDateTime *time.Time `json:"startDateTime"`
		Expiration    *struct {
			Type        string     `json:"type"`
			EndDateTime *time.Time `json:"endDateTime"`
			Duration    string     `json:"duration"`
		} `json:"expiration"`
	} `json:"scheduleInfo"`
}

var isoDurRe = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$`)

// parseISODuration reads the durations PIM takes (PnD, PTnH, PTnM and their
// combinations).
func parseISODuration(s string) (time.Duration, bool) {
	m := isoDurRe.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, true
}

func (p reqProps) end(now time.Time) (time.Time, error) {
	if p.ScheduleInfo == nil || p.ScheduleInfo.Expiration == nil {
		return time.Time{}, nil
	}
	e := p.ScheduleInfo.Expiration
	switch strings.ToLower(e.Type) {
	case "", "noexpiration":
		return time.Time{}, nil
	case "afterdatetime":
		if e.EndDateTime == nil {
			return time.Time{}, errors.New("AfterDateTime without endDateTime")
		}
		return e.EndDateTime.UTC().Truncate(time.Second), nil
	case "afterduration":
		d, ok := parseISODuration(e.Duration)
		if !ok {
			return time.Time{}, fmt.Errorf("bad duration %q", e.Duration)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("bad expiration type %q", e.Type)
}

// scheduleRequest carries out one request ("roleeligibility" or
// "roleassignment" kind) and returns the status and body to answer.
func (s *Sim) scheduleRequest(ctx context.Context, scope, kind, name string, body []byte) (int, any, error) {
	var env struct {
		Properties reqProps `json:"properties"`
	}
	if err := json.Unmarshal(body, &env); err != nil || !guidRe.MatchString(name) {
		return http.StatusBadRequest, armError("InvalidRequest", "armsim: bad request body or name"), nil
	}
	p := env.Properties
	p.PrincipalID = strings.ToLower(p.PrincipalID)
	if !guidRe.MatchString(p.PrincipalID) || !guidRe.MatchString(roleGUID(p.RoleDefinitionID)) {
		return http.StatusBadRequest, armError("InvalidRequest", "armsim: principalId and roleDefinitionId are required"), nil
	}
	note(ctx, p.PrincipalID, false)
	pk := partition(scope)
	now := s.o.Now().UTC()
	if err := s.expire(ctx, scope); err != nil {
		return 0, nil, err
	}
	// A request already taken answers the same (a retry after a lost answer).
	if e, err := s.o.Store.Get(ctx, s.o.Table, pk, reqPrefix+name); err == nil {
		var rq request
		if json.Unmarshal(e.Data, &rq) == nil && rq.Kind == kind && string(rq.Body) == string(body) {
			return http.StatusCreated, s.requestModel(scope, kind, name, p, now), nil
		}
		return http.StatusConflict, armError("RoleAssignmentRequestExists", "armsim: a different request has this name"), nil
	} else if !store.IsNotFound(err) {
		return 0, nil, err
	}
	end, err := p.end(now)
	if err != nil {
		return http.StatusBadRequest, armError("InvalidScheduleInfo", err.Error()), nil
	}
	if !end.IsZero() && !end.After(now) {
		return http.StatusBadRequest, armError("InvalidScheduleInfo", "armsim: the schedule would end before it starts"), nil
	}
	row := uniqueRow(p.PrincipalID, p.RoleDefinitionID)[2:] // principal|role
	prefix := asgPrefix
	if kind == "roleeligibility" {
		prefix = eligPrefix
	}
	reqData, _ := json.Marshal(request{Kind: kind, Body: body})
	ops := []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: reqPrefix + name, Data: reqData}}}
	cur, curE, err := s.readSchedule(ctx, pk, prefix+row)
	exists := err == nil
	if err != nil && !store.IsNotFound(err) {
		return 0, nil, err
	}
	rt := strings.ToLower(p.RequestType)
	switch rt {
	case "adminassign":
		if exists {
			return http.StatusConflict, armError("RoleAssignmentExists", "armsim: the role assignment already exists"), nil
		}
		start := now
		if p.ScheduleInfo != nil && p.ScheduleInfo.StartDateTime != nil {
			start = p.ScheduleInfo.StartDateTime.UTC()
		}
		sc := schedule{Name: uuid.NewString(), Scope: scope, PrincipalID: p.PrincipalID, PrincipalType: p.PrincipalType,
			RoleDefID: p.RoleDefinitionID, Request: name, Start: start, End: end}
		if prefix == asgPrefix {
			if _, err := s.o.Store.Get(ctx, s.o.Table, pk, uniqueRow(p.PrincipalID, p.RoleDefinitionID)); err == nil {
				return http.StatusConflict, armError("RoleAssignmentExists", "armsim: the role assignment already exists"), nil
			}
			sc.Assignment = sc.Name
			ops = append(ops, s.holdOps(pk, sc)...)
		}
		data, _ := json.Marshal(sc)
		ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: prefix + row, Data: data}})
	case "adminupdate", "adminextend", "adminrenew":
		if !exists {
			return http.StatusBadRequest, armError("RoleAssignmentDoesNotExist", "armsim: no such schedule"), nil
		}
		cur.End, cur.Request = end, name
		data, _ := json.Marshal(cur)
		ops = append(ops, store.Op{Kind: store.Replace, IfMatch: curE.ETag, Entity: store.Entity{PartitionKey: pk, RowKey: prefix + row, Data: data}})
	case "adminremove":
		if !exists && prefix == asgPrefix {
			// An admin removal of an activation.
			cur, curE, err = s.readSchedule(ctx, pk, actPrefix+row)
			if err == nil {
				exists, prefix = true, actPrefix
			} else if !store.IsNotFound(err) {
				return 0, nil, err
			}
		}
		if !exists {
			return http.StatusBadRequest, armError("RoleAssignmentDoesNotExist", "armsim: no such schedule"), nil
		}
		ops = append(ops, store.Op{Kind: store.Delete, IfMatch: curE.ETag, Entity: store.Entity{PartitionKey: pk, RowKey: prefix + row}})
		ops = append(ops, s.releaseOps(pk, cur)...)
	case "selfactivate":
		if prefix != asgPrefix {
			return http.StatusBadRequest, armError("InvalidRequest", "armsim: SelfActivate is a role assignment schedule request"), nil
		}
		el, _, err := s.readSchedule(ctx, pk, eligPrefix+row)
		if store.IsNotFound(err) {
			return http.StatusBadRequest, armError("RoleAssignmentDoesNotExist", "armsim: not eligible"), nil
		}
		if err != nil {
			return 0, nil, err
		}
		if _, err := s.o.Store.Get(ctx, s.o.Table, pk, uniqueRow(p.PrincipalID, p.RoleDefinitionID)); err == nil {
			return http.StatusConflict, armError("RoleAssignmentExists", "armsim: already active"), nil
		}
		if !el.End.IsZero() && (end.IsZero() || end.After(el.End)) {
			end = el.End
		}
		sc := schedule{Name: uuid.NewString(), Scope: scope, PrincipalID: p.PrincipalID, PrincipalType: p.PrincipalType,
			RoleDefID: p.RoleDefinitionID, Request: name, Start: now, End: end, LinkedEligible: el.id(eligPrefix)}
		sc.Assignment = sc.Name
		data, _ := json.Marshal(sc)
		ops = append(ops, s.holdOps(pk, sc)...)
		ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: actPrefix + row, Data: data}})
	default:
		return http.StatusBadRequest, armError("InvalidRequestType", "armsim: request type "+p.RequestType+" is not simulated"), nil
	}
	_, err = s.o.Store.Batch(ctx, s.o.Table, ops)
	switch {
	case store.IsExists(err) || store.IsPrecondition(err) || store.IsNotFound(err):
		return http.StatusConflict, armError("Conflict", "armsim: a concurrent request changed the schedule; retry"), nil
	case err != nil:
		return 0, nil, err
	}
	note(ctx, p.PrincipalID, true)
	return http.StatusCreated, s.requestModel(scope, kind, name, p, now), nil
}

// holdOps insert the role assignment a schedule holds.
func (s *Sim) holdOps(pk string, sc schedule) []store.Op {
	a := stored{Scope: sc.Scope, Name: sc.Assignment, PrincipalID: sc.PrincipalID, PrincipalType: sc.PrincipalType, RoleDefID: sc.RoleDefID, CreatedOn: sc.Start}
	data, _ := json.Marshal(a)
	return []store.Op{
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: "a:" + a.Name, Data: data}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: uniqueRow(a.PrincipalID, a.RoleDefID), Data: []byte(`"` + a.Name + `"`)}},
	}
}

// releaseOps delete the role assignment a schedule holds.
func (s *Sim) releaseOps(pk string, sc schedule) []store.Op {
	if sc.Assignment == "" {
		return nil
	}
	return []store.Op{
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: pk, RowKey: "a:" + sc.Assignment}},
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: pk, RowKey: uniqueRow(sc.PrincipalID, sc.RoleDefID)}},
	}
}

func (s *Sim) requestModel(scope, kind, name string, p reqProps, now time.Time) any {
	coll := "roleAssignmentScheduleRequests"
	if kind == "roleeligibility" {
		coll = "roleEligibilityScheduleRequests"
	}
	return map[string]any{
		"id": scope + "/providers/Microsoft.Authorization/" + coll + "/" + name, "name": name,
		"type": "Microsoft.Authorization/" + coll,
		"properties": map[string]any{"principalId": p.PrincipalID, "roleDefinitionId": p.RoleDefinitionID,
			"requestType": p.RequestType, "status": "Provisioned", "scope": scope, "createdOn": now, "justification": p.Justification},
	}
}

func (s *Sim) readSchedule(ctx context.Context, pk, row string) (schedule, store.Entity, error) {
	e, err := s.o.Store.Get(ctx, s.o.Table, pk, row)
	if err != nil {
		return schedule{}, e, err
	}
	var sc schedule
	if err := json.Unmarshal(e.Data, &sc); err != nil {
		return sc, e, fmt.Errorf("armsim: %w", err)
	}
	return sc, e, nil
}

func (sc schedule) id(prefix string) string {
	coll := "roleAssignmentSchedules"
	if prefix == eligPrefix {
		coll = "roleEligibilitySchedules"
	}
	return sc.Scope + "/providers/Microsoft.Authorization/" + coll + "/" + sc.Name
}

// expire removes the schedules of scope whose end has come, with the role
// assignments they hold, as Azure does when a schedule ends.
func (s *Sim) expire(ctx context.Context, scope string) error {
	pk := partition(scope)
	now := s.o.Now()
	for _, prefix := range []string{eligPrefix, asgPrefix, actPrefix} {
		rows, err := s.o.Store.List(ctx, s.o.Table, store.Query{PartitionKey: pk, Prefix: prefix})
		if err != nil {
			return err
		}
		for _, e := range rows {
			var sc schedule
			if err := json.Unmarshal(e.Data, &sc); err != nil {
				return fmt.Errorf("armsim: %w", err)
			}
			if sc.End.IsZero() || sc.End.After(now) {
				continue
			}
			ops := append([]store.Op{{Kind: store.Delete, IfMatch: e.ETag, Entity: store.Entity{PartitionKey: pk, RowKey: e.RowKey}}}, s.releaseOps(pk, sc)...)
			_, err := s.o.Store.Batch(ctx, s.o.Table, ops)
			switch {
			case err == nil && s.o.OnExpire != nil:
				s.o.OnExpire(sc.public(prefix))
			case err != nil && !store.IsNotFound(err) && !store.IsPrecondition(err):
				return err
			}
		}
	}
	return nil
}

// listSchedules lists a schedule collection at scope and above, with the
// atScope() or principalId eq filter.
func (s *Sim) listSchedules(ctx context.Context, scope, coll, filter string) ([]any, int, error) {
	principal, ok := listPrincipal(strings.TrimSpace(filter))
	if !ok {
		return nil, http.StatusBadRequest, nil
	}
	var out []any
	for _, sc := range ancestors(scope) {
		if err := s.expire(ctx, sc); err != nil {
			return nil, 0, err
		}
		var prefixes []string
		switch coll {
		case "roleeligibilityschedules":
			prefixes = []string{eligPrefix}
		default:
			prefixes = []string{asgPrefix, actPrefix}
		}
		for _, prefix := range prefixes {
			rows, err := s.o.Store.List(ctx, s.o.Table, store.Query{PartitionKey: partition(sc), Prefix: prefix})
			if err != nil {
				return nil, 0, err
			}
			for _, e := range rows {
				var x schedule
				if err := json.Unmarshal(e.Data, &x); err != nil {
					return nil, 0, fmt.Errorf("armsim: %w", err)
				}
				if principal != "" && x.PrincipalID != principal {
					continue
				}
				out = append(out, x.model(prefix, coll))
			}
		}
	}
	return out, http.StatusOK, nil
}

// model is the schedule as ARM shows it in coll (schedules or instances).
func (x schedule) model(prefix, coll string) any {
	reqColl := "roleAssignmentScheduleRequests"
	if prefix == eligPrefix {
		reqColl = "roleEligibilityScheduleRequests"
	}
	props := map[string]any{
		"scope": x.Scope, "principalId": x.PrincipalID, "roleDefinitionId": x.RoleDefID,
		"status": "Provisioned", "memberType": "Direct", "startDateTime": x.Start, "createdOn": x.Start,
	}
	if x.PrincipalType != "" {
		props["principalType"] = x.PrincipalType
	}
	if !x.End.IsZero() {
		props["endDateTime"] = x.End
	}
	reqID := x.Scope + "/providers/Microsoft.Authorization/" + reqColl + "/" + x.Request
	switch prefix {
	case eligPrefix:
		props["roleEligibilityScheduleRequestId"] = reqID
	case asgPrefix:
		props["assignmentType"] = "Assigned"
		props["roleAssignmentScheduleRequestId"] = reqID
	case actPrefix:
		props["assignmentType"] = "Activated"
		props["roleAssignmentScheduleRequestId"] = reqID
		props["linkedRoleEligibilityScheduleId"] = x.LinkedEligible
	}
	id, typ := x.id(prefix), "Microsoft.Authorization/roleAssignmentSchedules"
	if prefix == eligPrefix {
		typ = "Microsoft.Authorization/roleEligibilitySchedules"
	}
	if coll == "roleassignmentscheduleinstances" {
		props["roleAssignmentScheduleId"] = id
		props["originRoleAssignmentId"] = x.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + x.Assignment
		id, typ = x.Scope+"/providers/Microsoft.Authorization/roleAssignmentScheduleInstances/"+x.Name, "Microsoft.Authorization/roleAssignmentScheduleInstances"
	}
	return map[string]any{"id": id, "name": x.Name, "type": typ, "properties": props}
}

// Activate makes principal's eligibility for role at scope active for d, as
// the person's own SelfActivate request would (tests, the local walkthrough).
func (s *Sim) Activate(ctx context.Context, scope, principal, roleDefID string, d time.Duration) error {
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{
		"principalId": principal, "roleDefinitionId": roleDefID, "requestType": "SelfActivate", "justification": "on call",
		"scheduleInfo": map[string]any{"expiration": map[string]any{"type": "AfterDuration", "duration": fmt.Sprintf("PT%dM", int(d.Minutes()))}}}})
	status, v, err := s.scheduleRequest(ctx, normScope(scope), "roleassignment", uuid.NewString(), body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("armsim: activate: %d %v", status, v)
	}
	return nil
}

// PutSchedule plants a schedule "someone else" made (kind "eligible" or
// "timeBound"), for tests.
func (s *Sim) PutSchedule(ctx context.Context, kind, scope, principal, roleDefID string, end time.Time) error {
	rt, coll := "AdminAssign", "roleassignment"
	if kind == "eligible" {
		coll = "roleeligibility"
	}
	exp := map[string]any{"type": "NoExpiration"}
	if !end.IsZero() {
		exp = map[string]any{"type": "AfterDateTime", "endDateTime": end.UTC()}
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{
		"principalId": principal, "roleDefinitionId": roleDefID, "requestType": rt, "principalType": "User",
		"scheduleInfo": map[string]any{"expiration": exp}}})
	status, v, err := s.scheduleRequest(ctx, normScope(scope), coll, uuid.NewString(), body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("armsim: put schedule: %d %v", status, v)
	}
	return nil
}

// Schedule is a stored schedule as tests and the local ops view see it.
type Schedule struct {
	Kind        string // "eligible", "timeBound" or "activated"
	Scope       string
	PrincipalID string
	RoleID      string
	Request     string
	Start, End  time.Time
}

// public is the schedule as tests see it; prefix is its row's.
func (x schedule) public(prefix string) Schedule {
	kind := map[string]string{eligPrefix: "eligible", asgPrefix: "timeBound", actPrefix: "activated"}[prefix]
	return Schedule{Kind: kind, Scope: strings.ToLower(x.Scope), PrincipalID: x.PrincipalID, RoleID: roleGUID(x.RoleDefID), Request: x.Request, Start: x.Start, End: x.End}
}

// Schedules returns every live schedule (expiring those past their end).
func (s *Sim) Schedules(ctx context.Context) ([]Schedule, error) {
	var scopes []string
	seen := map[string]bool{}
	var out []Schedule
	err := s.o.Store.Scan(ctx, s.o.Table, func(e store.Entity) error {
		kind := map[string]string{eligPrefix: "eligible", asgPrefix: "timeBound", actPrefix: "activated"}[e.RowKey[:min(3, len(e.RowKey))]]
		if kind == "" {
			return nil
		}
		var x schedule
		if err := json.Unmarshal(e.Data, &x); err != nil {
			return err
		}
		if !seen[x.Scope] {
			seen[x.Scope] = true
			scopes = append(scopes, x.Scope)
		}
		if !x.End.IsZero() && !x.End.After(s.o.Now()) {
			return nil
		}
		out = append(out, x.public(e.RowKey[:3]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if err := s.expire(ctx, sc); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Kind+a.Scope+a.PrincipalID+a.RoleID < b.Kind+b.Scope+b.PrincipalID+b.RoleID
	})
	return out, nil
}

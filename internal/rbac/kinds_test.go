package rbac_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/adfscim/adfscim/internal/rbac"
)

// TestMappingKinds: a binding's kind and maxDuration decide the grant; bad
// ones are clear mapping errors; the shape Bicep writes (kind "active",
// maxDuration "") is a standing binding.
func TestMappingKinds(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		grant       GrantKind
		max         time.Duration
		err         string
	}{
		{"default", ``, GrantStanding, 0, ""},
		{"as Bicep writes it", `,"kind":"active","maxDuration":""`, GrantStanding, 0, ""},
		{"time-bound", `,"kind":"active","maxDuration":"720h"`, GrantTimeBound, 720 * time.Hour, ""},
		{"time-bound without kind", `,"maxDuration":"8h"`, GrantTimeBound, 8 * time.Hour, ""},
		{"eligible", `,"kind":"eligible"`, GrantEligible, 0, ""},
		{"eligible for 90 days", `,"kind":"eligible","maxDuration":"2160h"`, GrantEligible, 2160 * time.Hour, ""},
		{"unknown kind", `,"kind":"permanent"`, "", 0, `unknown kind "permanent"`},
		{"bad duration", `,"maxDuration":"30 days"`, "", 0, `maxDuration "30 days"`},
		{"too short", `,"maxDuration":"1m"`, "", 0, "from 5 minutes to 5 years"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapping([]byte(`{"bindings":[{"group":"G","role":"Reader","factories":["` + factoryA + `"]` + tt.extra + `}]}`))
			if tt.err != "" {
				if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := m.Bindings[0]
			if b.Grant() != tt.grant || b.MaxDuration != tt.max || m.UsesSchedules() != tt.grant.Scheduled() {
				t.Errorf("grant %q, max %v, uses schedules %v", b.Grant(), b.MaxDuration, m.UsesSchedules())
			}
		})
	}
	// An eligible and an active binding of the same group, role and factory
	// stand side by side; two active ones are a duplicate.
	if _, err := ParseMapping([]byte(`{"bindings":[{"group":"G","role":"Reader","factories":["` + factoryA + `"]},{"group":"G","role":"Reader","factories":["` + factoryA + `"],"kind":"eligible"}]}`)); err != nil {
		t.Errorf("eligible beside active: %v", err)
	}
	if _, err := ParseMapping([]byte(`{"bindings":[{"group":"G","role":"Reader","factories":["` + factoryA + `"]},{"group":"G","role":"Reader","factories":["` + factoryA + `"],"maxDuration":"8h"}]}`)); err == nil {
		t.Errorf("two active bindings of one role on one factory were accepted")
	}
}

// TestRenewal: a schedule is renewed when it ends before half its
// maxDuration from now, or when a person's end date moves it earlier, and
// never when it already ends where it should.
func TestRenewal(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	b := Binding{Kind: BindingActive, MaxDuration: 720 * time.Hour, RoleID: roleRdr}
	d := b.GrantFor(DesiredAssignment(factoryA, pid(1), PrincipalUser, roleRdr, "u1"), now, time.Time{})
	at := func(end time.Time) Assignment { a := d; a.EndsAt = end; return a }
	for _, tt := range []struct {
		name   string
		actual time.Time
		renew  bool
	}{
		{"fresh", now.Add(700 * time.Hour), false},
		{"half-way", now.Add(359 * time.Hour), true},
		{"at the desired end", d.EndsAt, false},
	} {
		if got := NeedsRenewal(d, at(tt.actual)); got != tt.renew {
			t.Errorf("%s: renew %v, want %v", tt.name, got, tt.renew)
		}
	}
	// A person's end date caps the grant and moves a later schedule earlier.
	end := now.Add(24 * time.Hour)
	capped := b.GrantFor(DesiredAssignment(factoryA, pid(1), PrincipalUser, roleRdr, "u1"), now, end)
	if !capped.EndsAt.Equal(end) || !NeedsRenewal(capped, at(now.Add(700*time.Hour))) || NeedsRenewal(capped, at(end)) {
		t.Errorf("end date: desired %v; renewals wrong", capped.EndsAt)
	}
}

package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/buildtest"
)

// The harness is tested the way it is used: against a real adfscim binary
// built from this module, spawned on a loopback port with a fresh store.

// TestMain lets the test binary play `adfscim load` for the trivial handler
// process the harness starts (Options.Self defaults to this executable).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "load" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := Command(ctx, os.Args[2:], func(string) string { return "" }, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	buildtest.Remove()
	os.Exit(code)
}

// adfscimBinary is the product binary, whose `load` subcommand is this
// package.
func adfscimBinary(t *testing.T) string { return buildtest.Adfscim(t) }

func TestRunSpawned(t *testing.T) {
	bin := adfscimBinary(t)
	tests := []struct {
		name   string
		phases []string
		// wantPhases are the measured phases the report must hold.
		wantPhases []string
		wantGroups bool
		// trivial and self place the trivial handler (self "bin": the
		// built adfscim's own `load -serve-trivial`).
		trivial, self string
	}{
		{"users then lookups and creates", []string{PhaseUsers, PhaseFilter, PhasePost}, []string{PhaseFilter, PhasePost}, false, "", ""},
		{"everything, trivial handler run by adfscim load", AllPhases, []string{PhaseFilter, PhasePost, PhasePatch}, true, TrivialProcess, "bin"},
		{"trivial handler in process", []string{PhaseUsers, PhaseFilter}, []string{PhaseFilter}, false, TrivialInProcess, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o := Options{
				Spawn:       bin,
				SpawnEnv:    []string{"ADFSCIM_LOG_LEVEL=warn"},
				Users:       300,
				Groups:      5,
				Members:     20,
				MemberBatch: 7,
				Connections: 4,
				Duration:    500 * time.Millisecond,
				Phases:      tc.phases,
				JSON:        true,
				Trivial:     tc.trivial,
			}
			if tc.self == "bin" {
				o.Self = bin
			}
			if err := Run(context.Background(), o, &out); err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			var rep Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("the JSON report does not parse: %v\n%s", err, out.String())
			}
			p := rep.Provision
			if p == nil {
				t.Fatal("no provisioning figures")
			}
			if p.Users != 300 || p.UsersExisting != 0 || p.Errors != 0 || p.UsersPerSecond <= 0 {
				t.Errorf("users: got %d created (%d existing, %d errors, %.0f/s), want 300 new, no errors", p.Users, p.UsersExisting, p.Errors, p.UsersPerSecond)
			}
			if tc.wantGroups {
				// 20 members in batches of 7: 3 PATCHes per group.
				if p.Groups != 5 || p.MemberPatches != 15 || p.Members != 100 || p.MembersPerSecond <= 0 {
					t.Errorf("groups: got %d groups, %d PATCHes, %d members (%.0f/s), want 5, 15, 100", p.Groups, p.MemberPatches, p.Members, p.MembersPerSecond)
				}
			} else if p.Groups != 0 || p.MemberPatches != 0 {
				t.Errorf("groups ran though not asked for: %+v", p)
			}
			checkPhase := func(r PhaseResult) {
				t.Helper()
				if r.Requests <= 0 || r.Errors != 0 || r.RPS <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
					t.Errorf("%s: implausible figures %+v", r.Name, r)
				}
			}
			if rep.Trivial == nil {
				t.Fatal("the trivial handler was not measured")
			}
			checkPhase(*rep.Trivial)
			var got []string
			for _, r := range rep.Phases {
				got = append(got, r.Name)
				checkPhase(r)
				if r.RPSRatio <= 0 || r.P99Ratio <= 0 {
					t.Errorf("%s: no ratio to the trivial handler: %+v", r.Name, r)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.wantPhases, ",") {
				t.Errorf("measured phases %v, want %v", got, tc.wantPhases)
			}
			// A run with write phases measures the disk's serial
			// durable-write rate in the store's directory and puts each
			// write phase beside it; a run without them does not.
			writes := false
			for _, r := range rep.Phases {
				isWrite := r.Name == PhasePost || r.Name == PhasePatch
				writes = writes || isWrite
				if isWrite != (r.DiskRatio > 0) {
					t.Errorf("%s: disk ratio %.2f", r.Name, r.DiskRatio)
				}
			}
			switch d := rep.Disk; {
			case writes && (d == nil || d.Syncs <= 0 || d.PerSecond <= 0 || d.P99Ms < d.P50Ms || d.OtherRunPS <= 0 || d.PerSecond < d.OtherRunPS):
				t.Errorf("disk ceiling: %+v", d)
			case !writes && d != nil:
				t.Errorf("disk measured without write phases: %+v", d)
			}
			for _, when := range []string{"provision", "measurements"} {
				m := rep.Memory[when]
				if m.RssAnonKB <= 0 || m.VmRSSKB < m.RssAnonKB || m.StoreBytes <= 0 {
					t.Errorf("memory after %s: %+v", when, m)
				}
			}
		})
	}
}

// A run that could not do what it was asked must fail, never print figures
// as if it had.
func TestRunFailsHonestly(t *testing.T) {
	bin := adfscimBinary(t)
	tests := []struct {
		name  string
		o     Options
		check func(error) bool
	}{
		{
			"provisioning cut short by its time bound",
			Options{Phases: []string{PhaseUsers}, ProvisionTimeout: time.Nanosecond},
			func(err error) bool {
				return errors.Is(err, ErrRequestsFailed) && strings.Contains(err.Error(), "did not finish within")
			},
		},
		{
			"measuring a store nobody provisioned",
			Options{Phases: []string{PhaseFilter}},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "provision first") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Spawn, o.Users, o.Groups, o.Members, o.Connections, o.Duration = bin, 50, 1, 5, 2, 200*time.Millisecond
			var out bytes.Buffer
			err := Run(context.Background(), o, &out)
			if !tc.check(err) {
				t.Errorf("Run returned %v\n%s", err, out.String())
			}
		})
	}
}

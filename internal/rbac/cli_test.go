package rbac_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

func TestRunCLIWritesJSONWhenNotATerminal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	r := e.reconciler(t, testMapping(t), "cli")
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	e.dir.putUser(User{ID: "u1", ExternalID: pid(1), Active: true})
	e.dir.setMember("g1", "u1", true)

	var out bytes.Buffer
	if err := RunCLI(ctx, r, "plan", &out, false); err != nil {
		t.Fatal(err)
	}
	var p Plan
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("plan output is not JSON: %v\n%s", err, out.String())
	}
	if len(p.Creates) != 2 || len(e.simAssignments(t)) != 0 {
		t.Fatalf("plan = %+v; a plan must not write (ARM holds %d)", p, len(e.simAssignments(t)))
	}
	out.Reset()
	if err := RunCLI(ctx, r, "reconcile", &out, false); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("reconcile output is not JSON: %v", err)
	}
	if rep.Created != 2 || len(e.simAssignments(t)) != 2 {
		t.Errorf("reconcile created %d, ARM holds %d", rep.Created, len(e.simAssignments(t)))
	}
	if err := RunCLI(ctx, r, "apply", &out, false); err == nil {
		t.Error("unknown command accepted")
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	bar := ProgressBar(&out)
	for i := 1; i <= 4; i++ {
		bar(i, 4)
	}
	s := out.String()
	if !strings.HasSuffix(s, "\r["+strings.Repeat("#", 40)+"] 4/4") || !strings.Contains(s, "] 2/4") {
		t.Errorf("progress output %q", s)
	}
}

func TestWorkerAppliesEnqueuedItems(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newEnv(t, 1)
	la := &latencyARM{AssignmentAPI: e.arm, done: map[string]chan struct{}{}}
	r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: la, Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	go func() { r.Run(ctx, 0); close(stopped) }()
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	e.dir.putUser(User{ID: "u1", ExternalID: pid(1), Active: true})
	e.dir.setMember("g1", "u1", true)
	created := la.expect("create " + AssignmentName(factoryB, pid(1), roleDFC))
	if err := r.Enqueue(ctx, UserRef("u1")); err != nil {
		t.Fatal(err)
	}
	<-created // the worker applied it without anyone calling Drain
	cancel()
	<-stopped
}

package audit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store/azuritetest"
)

// Environment of a writer child process of TestTwoProcessWriters.
const (
	childConnEnv   = "ADFSCIM_AUDIT_TEST_CHILD_CONN"
	childPrefixEnv = "ADFSCIM_AUDIT_TEST_CHILD_PREFIX"
	childNameEnv   = "ADFSCIM_AUDIT_TEST_CHILD_NAME"
)

const (
	childWorkers = 8  // goroutines per process
	childEach    = 25 // appends per goroutine
)

// TestTwoProcessWriters runs two separate processes (this test binary,
// re-executed) that append to one trail on Table Storage (Azurite) at the
// same time, each with several goroutines, and checks that the trail they
// leave verifies, without gaps, with every record of both.
func TestTwoProcessWriters(t *testing.T) {
	if os.Getenv(childConnEnv) != "" {
		runChildWriter(t)
		return
	}
	conn := azuritetest.Shared(t)
	prefix := fmt.Sprintf("p%dx%d", os.Getpid(), tablePrefixes.Add(1))
	s := openTables(t, conn, prefix)
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessWriters$", "-test.count=1")
			cmd.Env = append(os.Environ(), childConnEnv+"="+conn, childPrefixEnv+"="+prefix, childNameEnv+"=proc"+strconv.Itoa(i))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("writer process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	want := 2 * childWorkers * childEach
	res := mustVerify(t, s)
	if !res.OK {
		t.Fatalf("trail written by two processes does not verify: %v", res.Break)
	}
	if res.Records != want || res.FirstSeq != 1 || res.LastSeq != uint64(want) {
		t.Fatalf("verified %d records, seq %d..%d; want %d, 1..%d", res.Records, res.FirstSeq, res.LastSeq, want, want)
	}
	per := map[string]int{}
	f := Filter{Limit: MaxLimit}
	for {
		p, err := query(context.Background(), s, time.Now(), f, MaxExamined)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			per[r.Actor]++
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	for _, name := range []string{"proc0", "proc1"} {
		if per[name] != want/2 {
			t.Errorf("%s wrote %d records, want %d", name, per[name], want/2)
		}
	}
}

// runChildWriter is the body of one writer process.
func runChildWriter(t *testing.T) {
	s := openTables(t, os.Getenv(childConnEnv), os.Getenv(childPrefixEnv))
	name := os.Getenv(childNameEnv)
	l := New(s, Options{})
	var wg sync.WaitGroup
	for w := range childWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range childEach {
				if err := l.Append(context.Background(), rec(name, ActionUserPatch, fmt.Sprintf("%s-%d-%d", name, w, i))); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

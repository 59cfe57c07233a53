package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/blob"
	"github.com/adfscim/adfscim/internal/store"
)

const (
	day1 = "20261201"
	day2 = "20261202"
)

// scenario writes a trail over two days with checkpoints between the
// appends, as the reconcile timer would:
//
//	day 1: records 1-5,   checkpoint 1
//	day 2: records 6-10,  checkpoint 2 (day 1 sealed at 5, day 2 at 10)
//	       records 11-13, checkpoint 3
//	                      checkpoint 4 (nothing new)
func scenario(t *testing.T, r rig) {
	t.Helper()
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	l := audit.New(r.s, audit.Options{Now: c.Now})
	w := &checkpoint.Writer{Store: r.s, Sink: r.sink, Signer: r.signer, Now: c.Now}
	appendN := func(from, to int) {
		for i := from; i <= to; i++ {
			if err := l.Append(ctx, audit.Record{Actor: "entra", Action: audit.ActionUserCreate,
				Target: audit.Target{Type: "User", ID: fmt.Sprintf("u%d", i)}, Outcome: audit.Outcome{Success: true, Status: 201}}); err != nil {
				t.Fatal(err)
			}
			c.Add(time.Minute)
		}
	}
	checkpointNow := func(wantSeq uint64) {
		t.Helper()
		cp, err := w.Write(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Seq != wantSeq {
			t.Fatalf("checkpoint seq %d, want %d", cp.Seq, wantSeq)
		}
		c.Add(5 * time.Minute)
	}
	appendN(1, 5)
	checkpointNow(1)
	c.Add(24 * time.Hour)
	appendN(6, 10)
	checkpointNow(2)
	appendN(11, 13)
	checkpointNow(3)
	checkpointNow(4)
}

func lines(t *testing.T, r rig) [][]byte {
	t.Helper()
	ls, err := r.sink.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func publicKeys(t *testing.T, r rig) []*ecdsa.PublicKey {
	t.Helper()
	k, err := r.signer.PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return []*ecdsa.PublicKey{k}
}

// rewriteRecord changes the actor of record seq and recomputes the hash
// of it and of every later record of the day, and the day's head: the
// trail stays self-consistent, so its chain alone cannot tell.
func rewriteRecord(t *testing.T, s store.Store, day string, seq, last uint64) {
	t.Helper()
	var prev string
	for n := seq; n <= last; n++ {
		var d row
		getJSON(t, s, day, rowKey(n), &d)
		if n == seq {
			var body map[string]any
			if err := json.Unmarshal(d.Rec, &body); err != nil {
				t.Fatal(err)
			}
			body["actor"] = "mallory"
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			d.Rec = b
		} else {
			d.Prev = prev
		}
		d.Hash = chainHash(d.Seq, d.Prev, d.Rec)
		putJSON(t, s, day, rowKey(n), d)
		prev = d.Hash
	}
	setHead(t, s, day, last, prev)
}

// TestVerifyCheckpointsFindsTampering is the list: each tampering
// is found by verify with checkpoints and named by its sequence numbers;
// the untouched trail passes. The trail tamperings are those a hash chain
// alone cannot see, which the test checks first.
func TestVerifyCheckpointsFindsTampering(t *testing.T) {
	type want struct {
		// trail break, when the trail is what was tampered with
		kind   audit.BreakKind
		seq    uint64
		detail string
		// checkpoint problems, when the checkpoints were
		problems []string
	}
	tests := []struct {
		name string
		// invisible is set when the tampering passes a verify without
		// checkpoints.
		invisible bool
		tamper    func(t *testing.T, r rig)
		want      *want
	}{
		{"untouched", true, func(*testing.T, rig) {}, nil},
		{"tail cut and the head rewritten", true, func(t *testing.T, r rig) {
			delRow(t, r.s, day2, rowKey(13))
			delRow(t, r.s, day2, rowKey(12))
			var d row
			getJSON(t, r.s, day2, rowKey(11), &d)
			setHead(t, r.s, day2, 11, d.Hash)
		}, &want{kind: audit.Deleted, seq: 12, detail: "the trail ends at 11, before the anchored record 13"}},
		{"record rewritten with its hash recomputed", true, func(t *testing.T, r rig) {
			rewriteRecord(t, r.s, day2, 8, 13)
		}, &want{kind: audit.Modified, seq: 10, detail: "rewritten between record 6 and record 10"}},
		{"last record and head rewritten", true, func(t *testing.T, r rig) {
			rewriteRecord(t, r.s, day2, 13, 13)
		}, &want{kind: audit.Modified, seq: 13, detail: "rewritten between record 11 and record 13"}},
		{"record deleted", false, func(t *testing.T, r rig) {
			delRow(t, r.s, day2, rowKey(7))
		}, &want{kind: audit.Deleted, seq: 7, detail: "records 7 to 7 are missing"}},
		{"checkpoint removed from the middle", true, func(t *testing.T, r rig) {
			ls := lines(t, r)
			r.rewrite(t, append(ls[:1:1], ls[2:]...))
		}, &want{problems: []string{"checkpoint 3: checkpoint 2 is missing (checkpoint 1 is followed by 3)"}}},
		{"checkpoint altered", true, func(t *testing.T, r rig) {
			ls := lines(t, r)
			ls[1] = bytes.Replace(ls[1], []byte(`"lastSeq":10`), []byte(`"lastSeq":9`), 1)
			r.rewrite(t, ls)
		}, &want{problems: []string{
			"checkpoint 2: the signature does not verify",
			"checkpoint 3: does not link to checkpoint 2",
		}}},
	}
	for _, rg := range rigs() {
		for _, tc := range tests {
			t.Run(rg.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				r := rg.open(t)
				scenario(t, r)
				tc.tamper(t, r)
				plain, err := audit.Verify(ctx, r.s, time.Time{}, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if plain.OK != tc.invisible {
					t.Fatalf("verify without checkpoints: OK=%v (%v); the test expects %v", plain.OK, plain.Break, tc.invisible)
				}
				rep, err := checkpoint.Verify(ctx, r.s, lines(t, r), publicKeys(t, r))
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == nil {
					if !rep.OK {
						t.Fatalf("untouched trail fails: %v %v", rep.Trail.Break, rep.Checkpoint.Problems)
					}
					if rep.Checkpoint.Count != 4 || rep.Checkpoint.CoveredSeq != 13 || rep.Trail.LastSeq != 13 {
						t.Errorf("got %d checkpoints covering seq %d, trail to %d; want 4, 13, 13", rep.Checkpoint.Count, rep.Checkpoint.CoveredSeq, rep.Trail.LastSeq)
					}
					return
				}
				if rep.OK {
					t.Fatal("verify -checkpoints passed a tampered trail")
				}
				if tc.want.problems == nil {
					b := rep.Trail.Break
					if b == nil {
						t.Fatalf("no trail break; problems %v", rep.Checkpoint.Problems)
					}
					if b.Kind != tc.want.kind || b.Seq != tc.want.seq || !strings.Contains(b.Detail, tc.want.detail) {
						t.Errorf("break = %v; want %s at seq %d with %q", b, tc.want.kind, tc.want.seq, tc.want.detail)
					}
					if len(rep.Checkpoint.Problems) != 0 {
						t.Errorf("checkpoint problems on untouched checkpoints: %v", rep.Checkpoint.Problems)
					}
					return
				}
				var got []string
				for _, p := range rep.Checkpoint.Problems {
					got = append(got, p.String())
				}
				if len(got) != len(tc.want.problems) {
					t.Fatalf("problems = %q; want %q", got, tc.want.problems)
				}
				for i, w := range tc.want.problems {
					if !strings.HasPrefix(got[i], w) {
						t.Errorf("problem %d = %q; want it to start with %q", i, got[i], w)
					}
				}
			})
		}
	}
}

// TestSignaturesCheckWithThePublicKeyAlone: the PEM public key is all an
// auditor needs; another key verifies nothing; and openssl, given the
// payload and signature cut from a line as docs/compliance.md shows,
// agrees with Go.
func TestSignaturesCheckWithThePublicKeyAlone(t *testing.T) {
	for _, rg := range rigs() {
		t.Run(rg.name, func(t *testing.T) {
			r := rg.open(t)
			scenario(t, r)
			ls := lines(t, r)
			pub, err := r.signer.PublicKey(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			pemBytes, err := checkpoint.MarshalPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := checkpoint.ParsePublicKeys(pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			if ch := checkpoint.CheckChain(ls, keys); len(ch.Problems) != 0 || ch.Count != 4 {
				t.Fatalf("with the PEM key: %d checkpoints, problems %v", ch.Count, ch.Problems)
			}
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			ch := checkpoint.CheckChain(ls, []*ecdsa.PublicKey{&other.PublicKey})
			if len(ch.Problems) != 4 || len(ch.Anchors) != 0 {
				t.Errorf("with another key: %d problems, %d anchors; want 4 and none", len(ch.Problems), len(ch.Anchors))
			}
			checkWithOpenSSL(t, pemBytes, ls)
		})
	}
}

// OpenSSLScript is the walk-through of docs/compliance.md: it cuts the
// payload and the DER signature out of line.json and checks them.
const OpenSSLScript = `sed -E 's/,"sig":"[^"]*"}$/}/' line.json | tr -d '\n' > payload.bin
sed -E 's/.*,"sig":"([^"]*)"}$/\1/' line.json | base64 -d > sig.der
openssl dgst -sha256 -verify pub.pem -signature sig.der payload.bin`

// TestDocsShowTheTestedScript: docs/compliance.md shows the commands this
// test runs, line for line.
func TestDocsShowTheTestedScript(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "compliance.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(OpenSSLScript, "\n") {
		if !strings.Contains(string(doc), line) {
			t.Errorf("docs/compliance.md does not show %q", line)
		}
	}
}

func checkWithOpenSSL(t *testing.T, pemBytes []byte, ls [][]byte) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: the command-line check is not run")
		return
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(line []byte) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, "line.json"), append(append([]byte{}, line...), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", OpenSSLScript)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for i, line := range ls {
		out, err := run(line)
		if err != nil || strings.TrimSpace(out) != "Verified OK" {
			t.Errorf("openssl rejects checkpoint line %d: %v %s", i+1, err, out)
		}
		payload, _, _ := checkpoint.Split(line)
		got, _ := os.ReadFile(filepath.Join(dir, "payload.bin"))
		if !bytes.Equal(got, payload) {
			t.Errorf("line %d: the shell payload differs from Split's", i+1)
		}
	}
	forged := bytes.Replace(ls[0], []byte(`"lastSeq":5`), []byte(`"lastSeq":4`), 1)
	if out, err := run(forged); err == nil || strings.Contains(out, "Verified OK") {
		t.Errorf("openssl accepts an altered checkpoint: %s", out)
	}
}

// TestWritersShareTheBlob: checkpoint writers in several instances append
// to one blob at once; the append-position condition keeps one chain.
func TestWritersShareTheBlob(t *testing.T) {
	r := openAzureRig(t)
	scenario(t, r)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 2 {
		wg.Go(func() {
			w := &checkpoint.Writer{Store: r.s, Sink: r.sink, Signer: r.signer, MaxAttempts: 50}
			for range 5 {
				if _, err := w.Write(context.Background()); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := checkpoint.Verify(context.Background(), r.s, lines(t, r), publicKeys(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoint.Count != 14 || rep.Checkpoint.Last != 14 {
		t.Fatalf("after concurrent writers: ok=%v, %d checkpoints to %d, problems %v", rep.OK, rep.Checkpoint.Count, rep.Checkpoint.Last, rep.Checkpoint.Problems)
	}
}

// TestBlobStartsAMonthlyPart: an append blob takes 50,000 blocks, so the
// sink starts a blob per month; the chain runs across them.
func TestBlobStartsAMonthlyPart(t *testing.T) {
	r := openAzureRig(t)
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 12, 31, 23, 58, 0, 0, time.UTC)}
	l := audit.New(r.s, audit.Options{Now: c.Now})
	w := &checkpoint.Writer{Store: r.s, Sink: r.sink, Signer: r.signer, Now: c.Now}
	for range 3 {
		if err := l.Append(ctx, audit.Record{Actor: "cli", Action: audit.ActionUserCreate, Outcome: audit.Outcome{Success: true}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(ctx); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Minute)
	}
	sink := r.sink.(*blob.Sink)
	_, pos, err := sink.Last(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos.Part != "2027-01.jsonl" {
		t.Errorf("newest part %q, want 2027-01.jsonl", pos.Part)
	}
	rep, err := checkpoint.Verify(ctx, r.s, lines(t, r), publicKeys(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoint.Count != 3 || rep.Checkpoint.CoveredSeq != 3 {
		t.Fatalf("across months: ok=%v, %d checkpoints covering %d, %v %v", rep.OK, rep.Checkpoint.Count, rep.Checkpoint.CoveredSeq, rep.Checkpoint.Problems, rep.Trail.Break)
	}
}

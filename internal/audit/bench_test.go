package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// BenchmarkAppend16 measures appends per second with 16 goroutines on each
// engine (Table Storage on Azurite), spread over 1, 2 or 16 Logs. One Log group-commits its
// callers' records; separate Logs (as separate instances would) compete for
// the head row by ETag.
//
//	go test -run XXX -bench Append16 -benchtime 2000x ./internal/audit/
func BenchmarkAppend16(b *testing.B) {
	const workers = 16
	for _, eng := range engines() {
		for _, nlogs := range []int{1, 2, workers} {
			b.Run(fmt.Sprintf("%s/logs=%d", eng.name, nlogs), func(b *testing.B) {
				benchAppend(b, eng.open(b), nlogs, workers)
			})
		}
	}
}

// benchAppend appends b.N records from workers goroutines over nlogs Logs
// and reports appends/s and, on Table Storage, billed transactions per
// record.
func benchAppend(b *testing.B, s store.Store, nlogs, workers int) {
	var before tables.Counts
	ts, isTables := s.(*tables.Store)
	if isTables {
		before = ts.Transactions()
	}
	logs := make([]*Log, nlogs)
	for i := range logs {
		logs[i] = New(s, Options{})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(l *Log) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := l.Append(context.Background(), rec("entra", ActionUserPatch, fmt.Sprint(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}(logs[w%nlogs])
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if isTables {
		b.ReportMetric(float64(ts.Transactions().Sub(before).Total())/float64(b.N), "transactions/record")
	}
	res, err := Verify(context.Background(), s, time.Time{}, time.Time{})
	if err != nil || !res.OK || res.Records != b.N {
		b.Fatalf("after the run: %+v %v", res, err)
	}
}

// BenchmarkVerify measures how fast Verify walks a trail of 10,000 records
// spread over 10 days on the embedded engine.
//
//	go test -run XXX -bench Verify -benchtime 5x ./internal/audit/
func BenchmarkVerify(b *testing.B) {
	s := openBolt(b)
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var n atomic.Int64
	l := New(s, Options{Now: func() time.Time { return day.Add(time.Duration(n.Load()/1000) * 24 * time.Hour) }})
	batch := make([]Record, 100)
	for n.Load() < 10000 {
		for i := range batch {
			batch[i] = rec("entra", ActionUserPatch, fmt.Sprint(n.Load()+int64(i)))
		}
		if err := l.Append(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
		n.Add(int64(len(batch)))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Verify(context.Background(), s, time.Time{}, time.Time{})
		if err != nil || !res.OK || res.Records != 10000 || res.Days != 10 {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "records/s")
}

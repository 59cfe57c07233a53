package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend16 measures appends per second with 16 goroutines on the
// embedded engine, spread over 1, 2 or 16 Logs. One Log group-commits its
// callers' records; separate Logs (as separate instances would) compete for
// the head row by ETag.
//
//	go test -run XXX -bench Append16 -benchtime 2000x ./internal/audit/
func BenchmarkAppend16(b *testing.B) {
	const workers = 16
	for _, nlogs := range []int{1, 2, workers} {
		b.Run(fmt.Sprintf("logs=%d", nlogs), func(b *testing.B) {
			s := openBolt(b)
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
			res, err := Verify(context.Background(), s, time.Time{}, time.Time{})
			if err != nil || !res.OK || res.Records != b.N {
				b.Fatalf("after the run: %+v %v", res, err)
			}
		})
	}
}

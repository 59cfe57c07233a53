package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DiskResult is the disk's ceiling for durable writes, measured in the
// store's directory: one goroutine writing 4 KiB in place and calling
// fdatasync after each write, as fast as it can. A store that commits each
// write durably, one at a time, cannot do better; one that groups commits
// can. Absolute write rates do not hold on shared machines (the same binary
// measured 2,500/s and 5,500/s on different days), so the write phases are
// also reported as a multiple of this figure, taken in the same run.
type DiskResult struct {
	Dir        string  `json:"dir"`
	Syncs      int     `json:"syncs"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"syncs_per_second"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	OtherRunPS float64 `json:"other_run_syncs_per_second,omitempty"`
}

// diskRegion is how much of the file the writes cycle over: the data
// blocks already exist, so each fdatasync flushes data and no size change,
// like a store writing its pages in place.
const diskRegion = 1 << 20

// measureDisk runs the serial write-and-fdatasync loop in dir for d.
func measureDisk(ctx context.Context, dir string, d time.Duration) (DiskResult, error) {
	f, err := os.CreateTemp(dir, ".adfscim-load-disk-*")
	if err != nil {
		return DiskResult{}, fmt.Errorf("disk ceiling: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	for off := int64(0); off < diskRegion; off += int64(len(block)) {
		if _, err := f.WriteAt(block, off); err != nil {
			return DiskResult{}, fmt.Errorf("disk ceiling: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return DiskResult{}, fmt.Errorf("disk ceiling: %w", err)
	}
	var h histogram
	n := 0
	begin := time.Now()
	deadline := begin.Add(d)
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(deadline) {
			break
		}
		block[0] = byte(n)
		if _, err := f.WriteAt(block, int64(n%(diskRegion/len(block)))*int64(len(block))); err != nil {
			return DiskResult{}, fmt.Errorf("disk ceiling: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return DiskResult{}, fmt.Errorf("disk ceiling: %w", err)
		}
		h.record(time.Since(t0))
		n++
	}
	elapsed := time.Since(begin)
	abs, _ := filepath.Abs(dir)
	r := DiskResult{Dir: abs, Syncs: n, Seconds: elapsed.Seconds(), P50Ms: ms(h.quantile(0.50)), P99Ms: ms(h.quantile(0.99))}
	if elapsed > 0 {
		r.PerSecond = float64(n) / elapsed.Seconds()
	}
	return r, ctx.Err()
}

// withDiskRatio fills a write phase's multiple of the disk's ceiling.
func withDiskRatio(r PhaseResult, disk *DiskResult) PhaseResult {
	if disk == nil || disk.PerSecond == 0 || (r.Name != PhasePost && r.Name != PhasePatch) {
		return r
	}
	r.DiskRatio = r.RPS / disk.PerSecond
	return r
}

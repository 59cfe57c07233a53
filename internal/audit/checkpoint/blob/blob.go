// Package blob keeps checkpoints in append blobs of one Azure Storage
// container, one blob per month (YYYY-MM.jsonl) and one block per
// checkpoint. An append blob takes at most 50,000 blocks; a month of
// checkpoints every minute is 44,640. In Azure the container has a
// time-based immutability policy with protected append writes
// (infra/modules/checkpoints.bicep): blocks can be appended, but no block
// can be changed and no blob deleted while the retention runs.
//
// Appends are conditional on the blob's length (the append-position
// condition) and new blobs on their absence, so writers in several
// instances never interleave or fork the chain.
package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/audit/checkpoint/local"
)

// suffix ends every checkpoint blob's name.
const suffix = ".jsonl"

// tailRead is how much of a blob's end Last reads to find the last line;
// more is read when a line is longer.
const tailRead = 64 << 10

// Sink is a checkpoint sink on a container.
type Sink struct {
	c *container.Client
}

// New returns a sink on the container c.
func New(c *container.Client) *Sink { return &Sink{c: c} }

// PartName is the blob that checkpoints made at t go to.
func PartName(t time.Time) string { return t.UTC().Format("2006-01") + suffix }

type part struct {
	name string
	size int64
}

func (s *Sink) parts(ctx context.Context) ([]part, error) {
	var out []part
	pager := s.c.NewListBlobsFlatPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.c.URL(), err)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || !strings.HasSuffix(*b.Name, suffix) {
				continue
			}
			var size int64
			if b.Properties != nil && b.Properties.ContentLength != nil {
				size = *b.Properties.ContentLength
			}
			out = append(out, part{name: *b.Name, size: size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// Last returns the newest line, read from the end of the newest blob
// that has one, and the position after the newest blob's end.
func (s *Sink) Last(ctx context.Context) ([]byte, checkpoint.Position, error) {
	parts, err := s.parts(ctx)
	if err != nil || len(parts) == 0 {
		return nil, checkpoint.Position{}, err
	}
	newest := parts[len(parts)-1]
	pos := checkpoint.Position{Part: newest.name, Size: newest.size}
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if p.size == 0 {
			continue // created, nothing appended yet
		}
		line, err := s.lastLine(ctx, p)
		return line, pos, err
	}
	return nil, pos, nil
}

func (s *Sink) lastLine(ctx context.Context, p part) ([]byte, error) {
	for n := int64(tailRead); ; n *= 4 {
		off := max(p.size-n, 0)
		b, err := s.read(ctx, p.name, off, p.size-off)
		if err != nil {
			return nil, err
		}
		t := bytes.TrimRight(b, "\n")
		if i := bytes.LastIndexByte(t, '\n'); i >= 0 || off == 0 {
			return t[i+1:], nil
		}
	}
}

func (s *Sink) read(ctx context.Context, name string, off, count int64) ([]byte, error) {
	resp, err := s.c.NewBlobClient(name).DownloadStream(ctx, &azblobblob.DownloadStreamOptions{Range: azblobblob.HTTPRange{Offset: off, Count: count}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// Append writes line as one block at pos. A checkpoint made in a later
// month than pos's blob starts that month's blob.
func (s *Sink) Append(ctx context.Context, line []byte, pos checkpoint.Position, t time.Time) error {
	name := max(PartName(t), pos.Part)
	ab := s.c.NewAppendBlobClient(name)
	size := pos.Size
	if name != pos.Part {
		_, err := ab.Create(ctx, &appendblob.CreateOptions{AccessConditions: &azblobblob.AccessConditions{
			ModifiedAccessConditions: &azblobblob.ModifiedAccessConditions{IfNoneMatch: new(azcore.ETagAny)},
		}})
		if bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
			return checkpoint.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		size = 0
	}
	body := append(append([]byte{}, line...), '\n')
	_, err := ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(body)), &appendblob.AppendBlockOptions{
		AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: &size},
	})
	if bloberror.HasCode(err, bloberror.AppendPositionConditionNotMet) {
		return checkpoint.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", name, err)
	}
	return nil
}

// List returns every line of every checkpoint blob, oldest first.
func (s *Sink) List(ctx context.Context) ([][]byte, error) {
	parts, err := s.parts(ctx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, p := range parts {
		if p.size == 0 {
			continue
		}
		b, err := s.read(ctx, p.name, 0, 0)
		if err != nil {
			return nil, err
		}
		lines, err := local.ReadLines(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p.name, err)
		}
		out = append(out, lines...)
	}
	return out, nil
}

// Package provision is one SCIM write as one unit: the directory change, its
// audit record and its entry in the access queue. Each method is one write;
// it chooses inside itself how the three become durable. On an engine that
// commits follow-up writes (store.Follower) the record and the queue entry
// go into the change's own commit, one fsync for all three; otherwise (Table
// Storage, a change spread over several batches, the first record of a day)
// they are written after the commit, side by side, before the method
// returns. Either way a write that returns without error is stored, recorded
// and queued.
//
// The package knows nothing of HTTP: handlers parse a request into a
// Request, call one method and map its error's code to a status. The status
// a write is answered with is part of its audit record, so the caller states
// it (Request.Status, and the status passed to Refused).
package provision

import (
	"context"
	"sync"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/patch"
	"github.com/adfscim/adfscim/internal/store"
)

// Queue is the access queue of the RBAC reconciler (*rbac.Reconciler).
type Queue interface {
	// AccessRefs returns what a change queues: the one decision of whose
	// access it may change (nothing when none).
	AccessRefs(ch *directory.Change) []rbac.Ref
	// PendingWrites returns the writes that queue refs, for a commit.
	PendingWrites(refs ...rbac.Ref) ([]store.Write, error)
	// Enqueue queues refs in writes of their own and wakes the worker.
	Enqueue(ctx context.Context, refs ...rbac.Ref) error
	// Notify wakes the worker once PendingWrites' writes have committed.
	Notify()
}

// preparer is a trail that can write a record in the commit of the change
// it records (*audit.Log).
type preparer interface {
	Prepare(rec audit.Record) (*audit.Prepared, error)
}

// Options wire a Service.
type Options struct {
	Directory *directory.Service
	// Trail receives a record of every write; nil records nothing (tests
	// of other concerns).
	Trail audit.Auditor
	// Queue is told of every write that may change someone's access
	// (Queue.AccessRefs); nil queues nothing.
	Queue  Queue
	Logger zerolog.Logger
}

// Service performs SCIM writes. It is safe for concurrent use.
type Service struct {
	dir   *directory.Service
	trail audit.Auditor
	prep  preparer // trail, when it can prepare records for a commit
	queue Queue
	log   zerolog.Logger
}

// New returns a Service.
func New(opts Options) *Service {
	s := &Service{dir: opts.Directory, trail: opts.Trail, queue: opts.Queue, log: opts.Logger}
	s.prep, _ = opts.Trail.(preparer)
	return s
}

// ErrNotRecorded refuses a write whose audit record could not be written:
// the request fails rather than going unrecorded. (The change itself may be
// stored; the client's retry finds it and is recorded.)
var ErrNotRecorded = scim.Errorf(scim.CodeUnavailable, "", "the change could not be written to the audit trail; retry the request")

// Request is one SCIM write as the client asked for it.
type Request struct {
	Kind directory.Kind
	// ID names the resource of a replace, patch or delete.
	ID string
	// Body is the resource of a create or replace, decoded.
	Body map[string]any
	// Raw is the request body as sent (the trail lists what a refused
	// write asked for).
	Raw []byte
	// Operations are a patch's operations, parsed once (patch.Parse) and
	// applied afresh on every optimistic retry.
	Operations []patch.Operation
	// IfMatch is the version the client requires ("" or "*": any).
	IfMatch string
	// Status is what the client is answered when the write succeeds; the
	// audit record states it.
	Status int
	// Actor, RequestID and Source identify the request in the trail.
	Actor, RequestID, Source string
}

// Result is a completed write.
type Result struct {
	// Resource is the resource as stored (nil after a delete).
	Resource *directory.Resource
	Change   *directory.Change
}

// Create stores a new resource.
func (s *Service) Create(ctx context.Context, req Request) (Result, error) {
	return s.write(ctx, req, directory.ActionCreate, func(follow directory.FollowUp) (*directory.Resource, *directory.Change, error) {
		return s.dir.Create(ctx, req.Kind, req.Body, follow)
	})
}

// Replace overwrites a resource (PUT).
func (s *Service) Replace(ctx context.Context, req Request) (Result, error) {
	return s.write(ctx, req, directory.ActionReplace, func(follow directory.FollowUp) (*directory.Resource, *directory.Change, error) {
		return s.dir.Replace(ctx, req.Kind, req.ID, req.Body, req.IfMatch, follow)
	})
}

// Patch applies req.Operations to a resource.
func (s *Service) Patch(ctx context.Context, req Request) (Result, error) {
	apply := patcher(s.dir, req.Kind, req.ID, req.Operations)
	return s.write(ctx, req, directory.ActionPatch, func(follow directory.FollowUp) (*directory.Resource, *directory.Change, error) {
		return s.dir.Patch(ctx, req.Kind, req.ID, apply, req.IfMatch, follow)
	})
}

// Delete removes a resource.
func (s *Service) Delete(ctx context.Context, req Request) (Result, error) {
	return s.write(ctx, req, directory.ActionDelete, func(follow directory.FollowUp) (*directory.Resource, *directory.Change, error) {
		ch, err := s.dir.Delete(ctx, req.Kind, req.ID, req.IfMatch, follow)
		return nil, ch, err
	})
}

// Refused records a write that failed, answered with status: best effort,
// since the request fails anyway (an error is only logged). A write refused
// with ErrNotRecorded is not recorded again: its record just failed.
func (s *Service) Refused(ctx context.Context, action directory.Action, req Request, status int, failure error) {
	if s.trail == nil || failure == ErrNotRecorded {
		return
	}
	u := &unit{s: s, req: req, action: action}
	rec := u.record(nil, status, failure)
	if err := s.trail.Append(ctx, rec); err != nil {
		s.log.Error().Err(err).Str("action", rec.Action).Str("target", rec.Target.ID).
			Bool("success", false).Msg("audit record not written")
	}
}

// write runs do, the directory change, with the unit's follow-ups and then
// writes what did not go into its commit.
func (s *Service) write(ctx context.Context, req Request, action directory.Action,
	do func(directory.FollowUp) (*directory.Resource, *directory.Change, error)) (Result, error) {
	u := &unit{s: s, req: req, action: action}
	res, ch, err := do(u.followUp())
	if err != nil {
		return Result{}, err
	}
	if err := u.finish(ctx, ch); err != nil {
		return Result{}, err
	}
	return Result{Resource: res, Change: ch}, nil
}

// unit is the state of one write: what went into its commit.
type unit struct {
	s      *Service
	req    Request
	action directory.Action

	asked      []audit.Change // the trail's list of what was asked, computed once
	askedDone  bool
	prepared   *audit.Prepared // the record, when prepared for the commit
	queuedRefs bool            // the queue entry went into the commit
}

// followUp returns the writes that commit with the change on an engine
// that can: the record and the queue entry. The directory calls it afresh
// for every attempt of an optimistic retry, and only when the change fits
// one commit.
func (u *unit) followUp() directory.FollowUp {
	if u.s.prep == nil && u.s.queue == nil {
		return nil
	}
	return func(ch *directory.Change) store.Follow {
		u.prepared, u.queuedRefs = nil, false
		if u.s.prep != nil {
			if p, err := u.s.prep.Prepare(u.record(ch, u.req.Status, nil)); err == nil {
				u.prepared = p
			} // else Append after the commit fails the same way and says why
		}
		var queue []store.Write
		if refs := u.accessRefs(ch); len(refs) > 0 {
			queue, _ = u.s.queue.PendingWrites(refs...) // on error Enqueue after the commit
		}
		return func(rd store.Reader) ([]store.Write, error) {
			var out []store.Write
			if u.prepared != nil {
				// A head that cannot be read here is left to Append,
				// which reports it properly.
				if w, err := u.prepared.Writes(rd); err == nil {
					out = append(out, w...)
				}
			}
			u.queuedRefs = len(queue) > 0
			return append(out, queue...), nil
		}
	}
}

// accessRefs is what ch queues, nothing without a queue.
func (u *unit) accessRefs(ch *directory.Change) []rbac.Ref {
	if u.s.queue == nil {
		return nil
	}
	return u.s.queue.AccessRefs(ch)
}

// finish writes, after the commit of ch, what did not go into it: the queue
// entry and the audit record, side by side (both are durable before the
// write returns, but one waits for the other's commit no longer than it
// must). A queue entry that cannot be written is logged: the change is
// stored and the timer's full reconcile applies it. A record that cannot be
// written fails the write with ErrNotRecorded.
func (u *unit) finish(ctx context.Context, ch *directory.Change) error {
	var queued error
	var wg sync.WaitGroup
	if refs := u.accessRefs(ch); len(refs) > 0 {
		if u.queuedRefs {
			u.s.queue.Notify()
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				queued = u.s.queue.Enqueue(ctx, refs...)
			}()
		}
	}
	var recorded error
	if u.s.trail != nil && (u.prepared == nil || !u.prepared.Written()) {
		rec := u.record(ch, u.req.Status, nil)
		if err := u.s.trail.Append(ctx, rec); err != nil {
			u.s.log.Error().Err(err).Str("action", rec.Action).Str("target", rec.Target.ID).
				Bool("success", true).Msg("audit record not written")
			recorded = ErrNotRecorded
		}
	}
	wg.Wait()
	if queued != nil {
		u.s.log.Error().Err(queued).Str("resource", string(ch.Type)).Str("id", ch.ID).Msg("access change not queued; the next reconcile applies it")
	}
	return recorded
}

package tokens

import (
	"context"
	"time"
)

// RecordFunc records a token lifecycle event ("token.create",
// "token.rotate", "token.revoke") for client, with the outcome err. A
// non-nil return means the event could not be recorded.
type RecordFunc func(ctx context.Context, action, client string, scopes []Scope, err error) error

// Audited wraps m so that every create, rotate and revoke is recorded. A
// change that succeeded but could not be recorded is reported as an error,
// so an operator never believes an unrecorded change went unnoticed.
func Audited(m Manager, record RecordFunc) Manager { return audited{m, record} }

type audited struct {
	Manager
	record RecordFunc
}

func (a audited) Create(ctx context.Context, client string, scopes []Scope, expiry time.Duration) (string, error) {
	v, err := a.Manager.Create(ctx, client, scopes, expiry)
	if rerr := a.record(ctx, "token.create", client, scopes, err); rerr != nil && err == nil {
		return v, rerr
	}
	return v, err
}

func (a audited) Rotate(ctx context.Context, client string, overlap time.Duration) (string, error) {
	v, err := a.Manager.Rotate(ctx, client, overlap)
	if rerr := a.record(ctx, "token.rotate", client, nil, err); rerr != nil && err == nil {
		return v, rerr
	}
	return v, err
}

func (a audited) Revoke(ctx context.Context, client string) error {
	err := a.Manager.Revoke(ctx, client)
	if rerr := a.record(ctx, "token.revoke", client, nil, err); rerr != nil && err == nil {
		return rerr
	}
	return err
}

// Package activities performs the deal workflow's side effects: it writes
// each step of a deal through the store and delivers the follow-up messages
// the step put in the outbox. It speaks Temporal (errors a retry policy can
// read) and mail; the SQL is the store's.
//
// Running the same Change twice — as Temporal does after a timeout or a
// worker crash — leaves the same rows (see store.ApplyChange), and a message
// is delivered once (see store.ClaimMessage).
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// ApplicationError types ApplyChange fails with when retrying cannot help.
// Both are non-retryable whatever the caller's retry policy says.
const (
	// ErrTypeUnknownAccount: the qualification names an account that is not
	// on file (store.ErrUnknownAccount); the workflow names it.
	ErrTypeUnknownAccount = workflows.ErrorTypeUnknownAccount
	// ErrTypeInvalidChange: PostgreSQL rejected the Change's data, or the
	// Change lacks its deal id (store.ErrInvalidChange).
	ErrTypeInvalidChange = "InvalidChange"
)

// Activities holds what the activities need. Create it with New, and
// register it whole with the worker: each exported method is an activity
// under its own name (ApplyChange is workflows.ActivityApplyChange).
type Activities struct {
	Pool   *store.Pool
	Mailer Mailer
	// Now stamps delivered messages; every other time written comes from
	// the Change.
	Now func() time.Time
	Log *slog.Logger
}

// New returns Activities on pool that deliver through mailer (a
// RecordingMailer when nil) and log to log (nowhere when nil).
func New(pool *store.Pool, mailer Mailer, log *slog.Logger) *Activities {
	if mailer == nil {
		mailer = RecordingMailer{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Activities{Pool: pool, Mailer: mailer, Now: time.Now, Log: log}
}

// ApplyChange writes one step of a deal (store.ApplyChange), then delivers
// those of its messages not delivered yet.
//
// Errors are retryable (PostgreSQL or the mail server may be down for a
// while) except the ApplicationError types above.
func (a *Activities) ApplyChange(ctx context.Context, ch workflows.Change) (workflows.ChangeResult, error) {
	res, err := store.ApplyChange(ctx, a.Pool, ch)
	if err != nil {
		return workflows.ChangeResult{}, classify(err)
	}
	if err := a.deliver(ctx, ch); err != nil {
		return workflows.ChangeResult{}, fmt.Errorf("deliver messages of deal %s: %w", ch.Deal.ID, err)
	}
	return res, nil
}

// classify makes the store's errors about the Change's own data
// non-retryable: the same Change would fail the same way forever. Everything
// else (connection refused, server shutting down, deadlock, a unique-key
// race) stays retryable. A non-retryable error is returned as a top-level
// ApplicationError, since the SDK looks at the returned error's own type,
// not at what it wraps.
func classify(err error) error {
	switch {
	case errors.Is(err, store.ErrUnknownAccount):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnknownAccount, nil)
	case errors.Is(err, store.ErrInvalidChange):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidChange, nil)
	}
	return err
}

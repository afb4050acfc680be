// Package activities performs the deal workflow's side effects: it writes
// each step of a deal to PostgreSQL and delivers the follow-up messages.
//
// Everything ApplyChange writes is a snapshot keyed by ids that come from the
// Change (never generated here), with timestamps from the Change (never from
// the clock, except when a message was delivered), so running the same Change
// twice — as Temporal does after a timeout or a worker crash — leaves the
// same rows, and a message is delivered once.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"dealflow/workflows"
)

// ApplicationError types ApplyChange fails with when retrying cannot help.
// Both are non-retryable whatever the caller's retry policy says.
const (
	// ErrTypeUnknownAccount: the qualification names an account that is not
	// on file.
	ErrTypeUnknownAccount = "UnknownAccount"
	// ErrTypeInvalidChange: PostgreSQL rejected the Change's data (a check,
	// not-null or foreign-key constraint, or a value it cannot store), or the
	// Change lacks its deal id.
	ErrTypeInvalidChange = "InvalidChange"
)

// Activities holds what the activities need. Create it with New.
type Activities struct {
	Pool   *pgxpool.Pool
	Mailer Mailer
	// Now stamps delivered messages; every other time written comes from
	// the Change.
	Now func() time.Time
	Log *slog.Logger
}

// New returns Activities on pool that deliver through mailer (a
// RecordingMailer when nil) and log to log (nowhere when nil).
func New(pool *pgxpool.Pool, mailer Mailer, log *slog.Logger) *Activities {
	if mailer == nil {
		mailer = RecordingMailer{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Activities{Pool: pool, Mailer: mailer, Now: time.Now, Log: log}
}

// Register registers the activities under the names the workflow calls.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.ApplyChange, activity.RegisterOptions{Name: workflows.ActivityApplyChange})
}

// ApplyChange writes one step of a deal in a single transaction — the leads
// row, the account and contact a qualification links or creates, the
// opportunity, quotes, order and invoice it carries, its timeline event and
// its messages — then delivers those of its messages not delivered yet.
//
// Errors are retryable (PostgreSQL or the mail server may be down for a
// while) except the ApplicationError types above.
func (a *Activities) ApplyChange(ctx context.Context, ch workflows.Change) (workflows.ChangeResult, error) {
	if ch.Deal.ID == "" {
		return workflows.ChangeResult{}, temporal.NewNonRetryableApplicationError("change without a deal id", ErrTypeInvalidChange, nil)
	}
	var res workflows.ChangeResult
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		var err error
		res, err = write(ctx, tx, ch)
		return err
	})
	if err != nil {
		return workflows.ChangeResult{}, classify(fmt.Errorf("apply change %d (%s) of deal %s: %w", ch.Event.Seq, ch.Event.Action, ch.Deal.ID, err))
	}
	if err := a.deliver(ctx, ch); err != nil {
		return workflows.ChangeResult{}, fmt.Errorf("deliver messages of deal %s: %w", ch.Deal.ID, err)
	}
	return res, nil
}

// write writes the whole Change inside tx.
func write(ctx context.Context, tx pgx.Tx, ch workflows.Change) (workflows.ChangeResult, error) {
	var res workflows.ChangeResult
	if err := upsertLead(ctx, tx, ch); err != nil {
		return res, err
	}
	if ch.Qualify != nil {
		var err error
		if res, err = qualify(ctx, tx, ch.Deal.ID, ch.Qualify, ch.Event.At); err != nil {
			return res, err
		}
	}
	cur := ch.Deal.Currency
	if ch.Opportunity != nil {
		if err := upsertOpportunity(ctx, tx, ch.Deal.ID, cur, ch.Opportunity); err != nil {
			return res, err
		}
	}
	for i := range ch.Quotes {
		if err := upsertQuote(ctx, tx, ch.Deal.ID, cur, &ch.Quotes[i]); err != nil {
			return res, err
		}
	}
	if ch.Order != nil {
		if err := upsertOrder(ctx, tx, ch.Deal.ID, cur, ch.Order); err != nil {
			return res, err
		}
	}
	if ch.Invoice != nil {
		if err := upsertInvoice(ctx, tx, ch.Deal.ID, cur, ch.Invoice); err != nil {
			return res, err
		}
	}
	if err := insertEvent(ctx, tx, ch.Deal.ID, ch.Event); err != nil {
		return res, err
	}
	for _, m := range ch.Messages {
		if err := insertMessage(ctx, tx, ch.Deal.ID, m); err != nil {
			return res, err
		}
	}
	return res, nil
}

// classify makes errors about the Change's own data non-retryable: the same
// Change would fail the same way forever. Everything else (connection
// refused, server shutting down, deadlock, a unique-key race) stays
// retryable. A non-retryable error is returned as a top-level
// ApplicationError, since the SDK looks at the returned error's own type,
// not at what it wraps.
func classify(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.NonRetryable() {
			return temporal.NewNonRetryableApplicationError(err.Error(), appErr.Type(), nil)
		}
		return err
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return err
	}
	switch {
	case pgErr.Code[:2] == "22", // data exception: a value PostgreSQL cannot store
		pgErr.Code == "23502", // not_null_violation
		pgErr.Code == "23503", // foreign_key_violation
		pgErr.Code == "23514": // check_violation
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidChange, nil)
	}
	return err
}

package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"dealflow/workflows"
)

// deliver sends each message of the Change that is not delivered yet. Each
// message is claimed with a row lock (FOR UPDATE SKIP LOCKED) held while it is
// sent and until sent_at is written, so a concurrent retry of the same Change
// skips it and a later one finds it delivered: a message goes out once. Only
// a crash between the mail server's acceptance and the commit sends it again,
// with the same Message-ID.
//
// A message the mail server rejects for good is settled as 'failed'; other
// delivery errors are returned (retryable) after trying the other messages.
func (a *Activities) deliver(ctx context.Context, ch workflows.Change) error {
	var errs []error
	seen := make(map[string]bool, len(ch.Messages))
	for _, m := range ch.Messages {
		if seen[m.Key] {
			continue
		}
		seen[m.Key] = true
		if err := a.deliverOne(ctx, m.Key); err != nil {
			errs = append(errs, fmt.Errorf("message %s: %w", m.Key, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Activities) deliverOne(ctx context.Context, key string) error {
	tx, err := a.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// The outbox row, not the Change, is what goes out: the first recording
	// of a key wins.
	m := workflows.Message{Key: key}
	err = tx.QueryRow(ctx, `
SELECT kind, recipient, subject, body, created_at FROM messages
WHERE key = $1 AND sent_at IS NULL
FOR UPDATE SKIP LOCKED`, key).Scan(&m.Kind, &m.Recipient, &m.Subject, &m.Body, &m.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // delivered already, or being delivered by a concurrent attempt
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	addr, err := recipientAddress(ctx, tx, m.Recipient)
	if err != nil {
		return err
	}
	out := m
	out.Recipient = addr
	delivery, sendErr := a.Mailer.Send(ctx, out)
	errText := ""
	switch {
	case errors.Is(sendErr, ErrUndeliverable):
		delivery, errText = DeliveryFailed, sendErr.Error()
		a.Log.Warn("message undeliverable", "key", key, "recipient", addr, "error", sendErr)
	case sendErr != nil:
		return fmt.Errorf("send: %w", sendErr)
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET sent_at = $2, delivery = $3, error = $4 WHERE key = $1`,
		key, a.Now().UTC(), delivery, errText); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	a.Log.Info("message delivered", "key", key, "kind", m.Kind, "recipient", addr, "delivery", delivery)
	return nil
}

// recipientAddress turns a message's recipient into a mail address:
// follow-ups for the owner or manager name an API user id, whose address is
// on file; anything with an @ is an address already. An id with no user on
// file is passed on as it is (the SMTP mailer then settles it as failed).
func recipientAddress(ctx context.Context, tx pgx.Tx, recipient string) (string, error) {
	if strings.Contains(recipient, "@") || recipient == "" {
		return recipient, nil
	}
	var email string
	err := tx.QueryRow(ctx, `SELECT email FROM api_users WHERE id = $1`, recipient).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return recipient, nil
	}
	if err != nil {
		return "", fmt.Errorf("look up user %s: %w", recipient, err)
	}
	return email, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"dealflow/workflows"
)

// MessageClaim is an outbox message taken for delivery: its row stays locked
// until Settle records how it went, or Release gives it back.
type MessageClaim struct {
	// Message is the outbox row as first recorded under its key, with
	// Recipient resolved to a mail address (see ClaimMessage).
	Message workflows.Message
	tx      pgx.Tx
}

// ClaimMessage takes the outbox message with key for delivery, unless it is
// delivered already or another attempt holds it: then the claim is nil. The
// row stays locked (FOR UPDATE SKIP LOCKED) until the claim is settled or
// released, so a concurrent attempt skips it and a later one finds it
// delivered: a message goes out once.
//
// The claimed message's recipient is a mail address: follow-ups for the
// owner or manager name an API user id, whose address is on file; anything
// with an @ is an address already. An id with no user on file is passed on
// as it is (a mailer then refuses it for good).
func ClaimMessage(ctx context.Context, pool *Pool, key string) (*MessageClaim, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	c := &MessageClaim{Message: workflows.Message{Key: key}, tx: tx}
	m := &c.Message
	err = tx.QueryRow(ctx, `
SELECT kind, recipient, subject, body, created_at FROM messages
WHERE key = $1 AND sent_at IS NULL
FOR UPDATE SKIP LOCKED`, key).Scan(&m.Kind, &m.Recipient, &m.Subject, &m.Body, &m.At)
	if errors.Is(err, pgx.ErrNoRows) {
		c.Release(ctx)
		return nil, nil // delivered already, or being delivered by a concurrent attempt
	}
	if err != nil {
		c.Release(ctx)
		return nil, fmt.Errorf("claim: %w", err)
	}
	if m.Recipient, err = recipientAddress(ctx, tx, m.Recipient); err != nil {
		c.Release(ctx)
		return nil, err
	}
	return c, nil
}

// Settle records the message as delivered at at, how (delivery), and why
// it failed when it did (errText), and releases the claim.
func (c *MessageClaim) Settle(ctx context.Context, at time.Time, delivery, errText string) error {
	if _, err := c.tx.Exec(ctx, `UPDATE messages SET sent_at = $2, delivery = $3, error = $4 WHERE key = $1`,
		c.Message.Key, at, delivery, errText); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	if err := c.tx.Commit(ctx); err != nil {
		return fmt.Errorf("mark delivered: %w", err)
	}
	return nil
}

// Release gives the message back unsent, for a later attempt; after Settle
// it does nothing.
func (c *MessageClaim) Release(ctx context.Context) {
	_ = c.tx.Rollback(context.WithoutCancel(ctx))
}

// recipientAddress turns a message's recipient into a mail address.
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

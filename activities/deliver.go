package activities

import (
	"context"
	"errors"
	"fmt"

	"dealflow/internal/store"
	"dealflow/workflows"
)

// deliver sends each message of the Change that is not delivered yet. Each
// message is claimed in the outbox (store.ClaimMessage) while it is sent and
// until its delivery is settled, so a concurrent retry of the same Change
// skips it and a later one finds it delivered: a message goes out once. Only
// a crash between the mail server's acceptance and the settling sends it
// again, with the same Message-ID.
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
	// The outbox row, not the Change, is what goes out: the first recording
	// of a key wins.
	claim, err := store.ClaimMessage(ctx, a.Pool, key)
	if err != nil || claim == nil {
		return err // nil: delivered already, or being delivered by a concurrent attempt
	}
	defer claim.Release(ctx)
	m := claim.Message
	delivery, sendErr := a.Mailer.Send(ctx, m)
	errText := ""
	switch {
	case errors.Is(sendErr, ErrUndeliverable):
		delivery, errText = DeliveryFailed, sendErr.Error()
		a.Log.Warn("message undeliverable", "key", key, "recipient", m.Recipient, "error", sendErr)
	case sendErr != nil:
		countDelivery(ctx, m.Kind, "", sendErr)
		return fmt.Errorf("send: %w", sendErr)
	}
	if err := claim.Settle(ctx, a.Now().UTC(), delivery, errText); err != nil {
		return err
	}
	countDelivery(ctx, m.Kind, delivery, nil)
	a.Log.Info("message delivered", "key", key, "kind", m.Kind, "recipient", m.Recipient, "delivery", delivery)
	return nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"dealflow/internal/dedup"
	"dealflow/workflows"
)

// ApplyChange writes one step of a deal in a single transaction: the leads
// row, the account and contact a qualification links or creates, the
// opportunity, quotes, order, invoice and activities it carries, its
// timeline event and its messages (into the outbox; see ClaimMessage for
// their delivery).
//
// Everything it writes is a snapshot keyed by ids that come from the Change
// (never generated here), with timestamps from the Change (never from the
// clock), so writing the same Change twice — as Temporal does after a timeout
// or a worker crash — leaves the same rows.
//
// An error that retrying cannot mend is ErrUnknownAccount or
// ErrInvalidChange (errors.Is); any other (PostgreSQL down, a deadlock, a
// unique-key race) may pass on a retry.
func ApplyChange(ctx context.Context, pool *Pool, ch workflows.Change) (workflows.ChangeResult, error) {
	if ch.Deal.ID == "" {
		return workflows.ChangeResult{}, withKind(ErrInvalidChange, errors.New("change without a deal id"))
	}
	var res workflows.ChangeResult
	err := writeAtOnce(ctx, pool, ch)
	if errors.Is(err, errNeedsTransaction) {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			res, err = write(ctx, tx, ch)
			return err
		})
	}
	if err != nil {
		err = fmt.Errorf("apply change %d (%s) of deal %s: %w", ch.Event.Seq, ch.Event.Action, ch.Deal.ID, err)
		if invalidData(err) {
			err = withKind(ErrInvalidChange, err)
		}
		return workflows.ChangeResult{}, err
	}
	return res, nil
}

// invalidData reports an error about the Change's own data: one PostgreSQL
// would refuse however often it is sent.
func invalidData(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return false
	}
	return pgErr.Code[:2] == "22" || // data exception: a value PostgreSQL cannot store
		pgErr.Code == "23502" || // not_null_violation
		pgErr.Code == "23503" || // foreign_key_violation
		pgErr.Code == "23514" // check_violation
}

// errNeedsTransaction is why writeAtOnce did not write a step: it reads
// something back (a qualification), or the deal has a write at its seq or
// later already (see rewritesStep).
var errNeedsTransaction = errors.New("the step needs a transaction")

// writeAtOnce writes a step that reads nothing back in one round trip: its
// statements go as one pipelined batch, which PostgreSQL runs as one implicit
// transaction. The transaction path below costs four round trips (BEGIN, the
// lock, the writes, COMMIT), and on these machines each is a pair of system
// calls and a wake-up for the worker and for PostgreSQL (docs/benchmarks.md,
// issue 18). The batch's first statement takes the same lock and stops the
// batch, writing nothing, when the step was written before
// (dealflow_step_is_new, migration 00008): the transaction then rewrites.
func writeAtOnce(ctx context.Context, pool *Pool, ch workflows.Change) error {
	if ch.Qualify != nil {
		return errNeedsTransaction
	}
	q := &queue{}
	if ch.Records != nil && ch.Event.Action != "" { // as rewritesStep
		_, _ = q.Exec(ctx, `SELECT dealflow_step_is_new($1, $2)`, ch.Deal.ID, ch.Event.Seq)
	}
	if err := upsertLead(ctx, q, ch); err != nil {
		return err
	}
	if err := writeTouched(ctx, q, ch); err != nil {
		return err
	}
	if err := insertEvent(ctx, q, ch.Deal.ID, ch.Event); err != nil {
		return err
	}
	err := q.send(ctx, pool)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == stepWrittenBefore {
		return errNeedsTransaction
	}
	return err
}

// stepWrittenBefore is the SQLSTATE dealflow_step_is_new raises.
const stepWrittenBefore = "DF001"

// write writes the whole Change inside tx, for a step writeAtOnce does not
// take: the records the step touched and its qualification, or, when the
// deal already has a write at this step's seq or later (see rewritesStep),
// every record of the deal as the Change's Records have it.
func write(ctx context.Context, tx pgx.Tx, ch workflows.Change) (workflows.ChangeResult, error) {
	var res workflows.ChangeResult
	rewrite, err := rewritesStep(ctx, tx, ch)
	if err != nil {
		return res, err
	}
	if err := upsertLead(ctx, tx, ch); err != nil {
		return res, err
	}
	if rewrite && (ch.Qualify != nil || ch.Records.Opportunity == nil) {
		// Not qualified before this step: what a failed qualification
		// linked or created goes, before this step qualifies (or not).
		if err := unlinkParties(ctx, tx, ch.Deal.ID); err != nil {
			return res, err
		}
	}
	if ch.Qualify != nil {
		if res, err = qualify(ctx, tx, ch.Deal.ID, ch.Qualify, ch.Event.At); err != nil {
			return res, err
		}
	}
	if rewrite {
		res.Sent, err = reconcile(ctx, tx, ch)
	} else {
		err = writeTouched(ctx, tx, ch)
	}
	if err != nil {
		return res, err
	}
	return res, insertEvent(ctx, tx, ch.Deal.ID, ch.Event)
}

// execer runs one statement: a transaction at once, a queue when it is sent.
// The record writers below take either.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// queue collects a step's statements (writeAtOnce's check and writes) and
// sends them to PostgreSQL in one round trip (pgx's pipeline) instead of one
// each: a step that touches the opportunity writes it and its four child
// tables, nine statements, and every round trip costs the worker and
// PostgreSQL a pair of system calls and a wake-up each (docs/benchmarks.md,
// issue 18).
type queue struct {
	b     pgx.Batch
	names []string // what each statement writes, for its error
}

func (q *queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	f := strings.Fields(sql)
	q.names = append(q.names, strings.Join(f[:min(3, len(f))], " "))
	return pgconn.CommandTag{}, nil
}

// send runs the queued statements in their order, as one implicit
// transaction; the first that fails ends them (and the transaction), and is
// named in the error.
func (q *queue) send(ctx context.Context, pool *Pool) error {
	br := pool.SendBatch(ctx, &q.b)
	for _, name := range q.names {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return br.Close()
}

// rewritesStep locks the deal's lead row and reports whether its timeline
// already reaches ch's seq: a write of this step, or of a later one, was
// made before. Either ApplyChange is retried after its commit (the same
// Change), or it ran in a workflow task that then failed (the worker or
// Temporal died before the task completed): Temporal runs the task again
// from the state before it, and the re-run may take another step, or the
// same one at a later time, under the same seq. What the failed task wrote
// is then unknown here, so the step rewrites every record of the deal.
//
// The lock also orders two writes of one deal that overlap: an attempt that
// timed out but still runs, and its retry. The timeline is read in a
// statement after the lock's, so that an attempt that waited for the lock
// sees what the one that held it committed (under READ COMMITTED a
// statement's snapshot is taken when it starts, before any wait).
func rewritesStep(ctx context.Context, tx pgx.Tx, ch workflows.Change) (bool, error) {
	if ch.Records == nil || ch.Event.Action == "" {
		return false, nil // a Change from before Records: the touched records only
	}
	tag, err := tx.Exec(ctx, `SELECT FROM leads WHERE id = $1 FOR UPDATE`, ch.Deal.ID)
	if err != nil {
		return false, fmt.Errorf("lock deal %s: %w", ch.Deal.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil // the deal's first write
	}
	var last *int
	if err := tx.QueryRow(ctx, `SELECT max(seq) FROM deal_events WHERE lead_id = $1`, ch.Deal.ID).Scan(&last); err != nil {
		return false, fmt.Errorf("read the timeline of deal %s: %w", ch.Deal.ID, err)
	}
	return last != nil && *last >= ch.Event.Seq, nil
}

// writeTouched writes the records the step touched, and records its
// messages in the outbox.
func writeTouched(ctx context.Context, tx execer, ch workflows.Change) error {
	id, cur := ch.Deal.ID, ch.Deal.Currency
	// The child rows the step left as they were stay (Change.Kept): the
	// timeline check before this made sure the rows are its previous step's.
	kept := ch.Kept
	if kept == nil {
		kept = &workflows.Kept{}
	}
	if ch.Opportunity != nil {
		if err := upsertOpportunity(ctx, tx, id, cur, ch.Opportunity, kept); err != nil {
			return err
		}
	}
	for i := range ch.Quotes {
		if err := upsertQuote(ctx, tx, id, cur, &ch.Quotes[i], kept.QuoteLinesKept(ch.Quotes[i].ID)); err != nil {
			return err
		}
	}
	if ch.Order != nil {
		if err := upsertOrder(ctx, tx, id, cur, ch.Order, kept.OrderLines); err != nil {
			return err
		}
	}
	if ch.Invoice != nil {
		if err := upsertInvoice(ctx, tx, id, cur, ch.Invoice, kept.InvoiceLines); err != nil {
			return err
		}
	}
	for i := range ch.Activities {
		if err := upsertActivity(ctx, tx, id, &ch.Activities[i]); err != nil {
			return err
		}
	}
	for _, m := range ch.Messages {
		if err := insertMessage(ctx, tx, id, m); err != nil {
			return err
		}
	}
	return nil
}

// reconcile makes every row the deal owns the Change's Records: it deletes
// the deal's records (children go with their parents, ON DELETE CASCADE),
// then writes the Records whole. A message already sent stays as it went
// out, and is returned when the Records lack it or word it otherwise (the
// workflow adopts it: ChangeResult.Sent); one not sent yet follows the
// Records, or goes when they lack it. When the deal is not qualified, its
// lead links no account or contact, and the ones a failed qualification
// created under the deal's own ids go unless something else uses them by
// now.
func reconcile(ctx context.Context, tx pgx.Tx, ch workflows.Change) ([]workflows.Message, error) {
	r, id, cur := ch.Records, ch.Deal.ID, ch.Deal.Currency
	sent, err := sentApart(ctx, tx, id, r.Messages)
	if err != nil {
		return nil, err
	}
	return sent, rewriteRecords(ctx, tx, ch, id, cur)
}

// sentApart returns the deal's messages sent already that msgs lack or
// word otherwise, as they were sent.
func sentApart(ctx context.Context, tx pgx.Tx, leadID string, msgs []workflows.Message) ([]workflows.Message, error) {
	// A delivery still under way (an attempt of the failed task whose
	// worker lives on) holds its row (ClaimMessage) until it is settled:
	// wait for it, or its message would be found unsent here, kept as sent
	// below, and never adopted.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM messages WHERE lead_id = $1 FOR UPDATE`, leadID); err != nil {
		return nil, fmt.Errorf("lock messages of %s: %w", leadID, err)
	}
	rows, err := tx.Query(ctx, `SELECT key, kind, recipient, subject, body, created_at FROM messages
		WHERE lead_id = $1 AND sent_at IS NOT NULL ORDER BY created_at, key`, leadID)
	if err != nil {
		return nil, fmt.Errorf("read sent messages of %s: %w", leadID, err)
	}
	sent, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (workflows.Message, error) {
		var m workflows.Message
		err := row.Scan(&m.Key, &m.Kind, &m.Recipient, &m.Subject, &m.Body, &m.At)
		m.At = m.At.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read sent messages of %s: %w", leadID, err)
	}
	var apart []workflows.Message
	for _, m := range sent {
		i := slices.IndexFunc(msgs, func(x workflows.Message) bool { return x.Key == m.Key })
		if i < 0 || !sameMessage(msgs[i], m) {
			apart = append(apart, m)
		}
	}
	return apart, nil
}

// sameMessage compares a message with its row, to PostgreSQL's microsecond.
func sameMessage(m, row workflows.Message) bool {
	return m.Kind == row.Kind && m.Recipient == row.Recipient && m.Subject == row.Subject && m.Body == row.Body &&
		m.At.Truncate(time.Microsecond).Equal(row.At)
}

// rewriteRecords is reconcile's writing part.
func rewriteRecords(ctx context.Context, tx pgx.Tx, ch workflows.Change, id, cur string) error {
	r := ch.Records
	keys := make([]string, len(r.Messages))
	for i, m := range r.Messages {
		keys[i] = m.Key
	}
	for _, del := range []struct{ what, sql string }{
		{"invoice", `DELETE FROM invoices WHERE lead_id = $1`},
		{"order", `DELETE FROM orders WHERE lead_id = $1`},
		{"quotes", `DELETE FROM quotes WHERE lead_id = $1`},
		{"opportunity", `DELETE FROM opportunities WHERE lead_id = $1`},
		{"activities", `DELETE FROM activities WHERE lead_id = $1`},
	} {
		if _, err := tx.Exec(ctx, del.sql, id); err != nil {
			return fmt.Errorf("rewrite deal %s: clear its %s: %w", id, del.what, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE lead_id = $1 AND sent_at IS NULL AND key <> ALL($2::text[])`,
		id, keys); err != nil {
		return fmt.Errorf("rewrite deal %s: clear its unsent messages: %w", id, err)
	}
	if r.Opportunity != nil {
		if err := upsertOpportunity(ctx, tx, id, cur, r.Opportunity, &workflows.Kept{}); err != nil {
			return err
		}
	}
	for i := range r.Quotes {
		if err := upsertQuote(ctx, tx, id, cur, &r.Quotes[i], false); err != nil {
			return err
		}
	}
	if r.Order != nil {
		if err := upsertOrder(ctx, tx, id, cur, r.Order, false); err != nil {
			return err
		}
	}
	if r.Invoice != nil {
		if err := upsertInvoice(ctx, tx, id, cur, r.Invoice, false); err != nil {
			return err
		}
	}
	for i := range r.Activities {
		if err := upsertActivity(ctx, tx, id, &r.Activities[i]); err != nil {
			return err
		}
	}
	for _, m := range r.Messages {
		if _, err := tx.Exec(ctx, `
INSERT INTO messages (key, lead_id, kind, recipient, subject, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key) DO UPDATE SET
	kind = EXCLUDED.kind, recipient = EXCLUDED.recipient, subject = EXCLUDED.subject,
	body = EXCLUDED.body, created_at = EXCLUDED.created_at
WHERE messages.sent_at IS NULL AND messages.lead_id = EXCLUDED.lead_id`,
			m.Key, id, m.Kind, m.Recipient, m.Subject, m.Body, m.At); err != nil {
			return fmt.Errorf("rewrite message %s: %w", m.Key, err)
		}
	}
	return nil
}

// unlinkParties undoes what a failed qualification of the deal wrote: it
// clears the lead's account and contact links, deletes the contact created
// under the deal's own id, detaches the contacts it attached to the account
// created under the deal's own id, and deletes that account — each unless
// another lead uses it by now (then it is that deal's too, and stays).
func unlinkParties(ctx context.Context, tx pgx.Tx, leadID string) error {
	account, contact := workflows.NewAccountID(leadID), workflows.NewContactID(leadID)
	if _, err := tx.Exec(ctx, `UPDATE leads SET account_id = NULL, contact_id = NULL WHERE id = $1`, leadID); err != nil {
		return fmt.Errorf("unlink lead %s: %w", leadID, err)
	}
	if err := deleteUnlessUsed(ctx, tx, `DELETE FROM contacts c WHERE c.id = $1
		AND NOT EXISTS (SELECT 1 FROM leads WHERE contact_id = c.id)`, contact); err != nil {
		return fmt.Errorf("unlink lead %s: its contact: %w", leadID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts SET account_id = NULL WHERE account_id = $1
		AND NOT EXISTS (SELECT 1 FROM leads WHERE account_id = $1)`, account); err != nil {
		return fmt.Errorf("unlink lead %s: contacts of its account: %w", leadID, err)
	}
	if err := deleteUnlessUsed(ctx, tx, `DELETE FROM accounts a WHERE a.id = $1
		AND NOT EXISTS (SELECT 1 FROM leads WHERE account_id = a.id)
		AND NOT EXISTS (SELECT 1 FROM contacts WHERE account_id = a.id)`, account); err != nil {
		return fmt.Errorf("unlink lead %s: its account: %w", leadID, err)
	}
	return nil
}

// deleteUnlessUsed runs del, whose NOT EXISTS keeps a row another record
// uses, in a savepoint: a deal that links the row at the same moment (its
// qualification found the account or contact by name or email) commits its
// reference after del looked, and del then fails on the foreign key. The
// row is that deal's now and stays; nothing else of the rewrite is undone.
func deleteUnlessUsed(ctx context.Context, tx pgx.Tx, del, id string) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, del, id); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return sp.Rollback(ctx)
		}
		_ = sp.Rollback(ctx)
		return err
	}
	return sp.Commit(ctx)
}

// Money crosses to PostgreSQL as decimal strings cast to numeric, so no
// float ever touches it and no extra codec is needed.

func num(d decimal.Decimal) string { return d.String() }

func numPtr(d *decimal.Decimal) *string {
	if d == nil {
		return nil
	}
	s := d.String()
	return &s
}

// upsertLead writes the deal header and the lead fields. An empty account or
// contact id in the header keeps what the row has: the header may be built
// before the workflow learned the ids qualification linked.
func upsertLead(ctx context.Context, tx execer, ch workflows.Change) error {
	d, l := ch.Deal, ch.Lead
	keys := dedup.KeysOf(l.Email, l.Phone, l.Company)
	_, err := tx.Exec(ctx, `
INSERT INTO leads (id, owner, stage, status, currency, customer, value, account_id, contact_id,
	topic, first_name, last_name, company, job_title, email, phone, source, rating,
	budget, estimated_value, purchase_timeframe, purchase_process, decision_maker_identified,
	existing_account_id, lead_status, disqualify_reason,
	created_at, stage_entered_at, closed_at, updated_at, price_list_id, status_reason,
	existing_contact_id, email_key, phone_key, name_key)
VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, NULLIF($8, ''), NULLIF($9, ''),
	$10, $11, $12, $13, $14, $15, $16, $17, $18,
	$19::numeric, $20::numeric, $21, $22, $23,
	$24, $25, $26,
	$27, $28, $29, $30, $31, $32,
	$33, $34, $35, $36)
ON CONFLICT (id) DO UPDATE SET
	owner = EXCLUDED.owner, stage = EXCLUDED.stage, status = EXCLUDED.status,
	currency = EXCLUDED.currency, customer = EXCLUDED.customer, value = EXCLUDED.value,
	account_id = COALESCE(EXCLUDED.account_id, leads.account_id),
	contact_id = COALESCE(EXCLUDED.contact_id, leads.contact_id),
	topic = EXCLUDED.topic, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
	company = EXCLUDED.company, job_title = EXCLUDED.job_title, email = EXCLUDED.email,
	phone = EXCLUDED.phone, source = EXCLUDED.source, rating = EXCLUDED.rating,
	budget = EXCLUDED.budget, estimated_value = EXCLUDED.estimated_value,
	purchase_timeframe = EXCLUDED.purchase_timeframe, purchase_process = EXCLUDED.purchase_process,
	decision_maker_identified = EXCLUDED.decision_maker_identified,
	existing_account_id = EXCLUDED.existing_account_id, lead_status = EXCLUDED.lead_status,
	disqualify_reason = EXCLUDED.disqualify_reason,
	created_at = EXCLUDED.created_at, stage_entered_at = EXCLUDED.stage_entered_at,
	closed_at = EXCLUDED.closed_at, updated_at = EXCLUDED.updated_at, price_list_id = EXCLUDED.price_list_id,
	status_reason = EXCLUDED.status_reason,
	existing_contact_id = EXCLUDED.existing_contact_id, email_key = EXCLUDED.email_key,
	phone_key = EXCLUDED.phone_key, name_key = EXCLUDED.name_key`,
		d.ID, d.Owner, string(d.Stage), string(d.Status), d.Currency, d.Customer, num(d.Value), d.AccountID, d.ContactID,
		l.Topic, l.FirstName, l.LastName, l.Company, l.JobTitle, l.Email, l.Phone, l.Source, l.Rating,
		num(l.Budget), num(l.EstimatedValue), l.PurchaseTimeframe, l.PurchaseProcess, l.DecisionMakerIdentified,
		l.ExistingAccountID, l.Status, l.DisqualifyReason,
		d.CreatedAt, d.StageEnteredAt, d.ClosedAt, updatedAt(ch), d.PriceListID, l.StatusReason,
		l.ExistingContactID, keys.Email, keys.Phone, keys.Company)
	if err != nil {
		return fmt.Errorf("upsert lead: %w", err)
	}
	return nil
}

// updatedAt is when the step happened: its event's time, else when the
// stage was entered.
func updatedAt(ch workflows.Change) time.Time {
	if !ch.Event.At.IsZero() {
		return ch.Event.At
	}
	return ch.Deal.StageEnteredAt
}

// qualify links or creates the account and the contact and points the lead
// at them. Resolution never creates a duplicate account, even when two deals
// qualify the same company at once: the insert relies on the unique index on
// lower(name) (ON CONFLICT DO NOTHING waits for the other transaction and then
// yields), and the row is read back afterwards.
//
// A contact on file (q.ContactID) is linked as it is, and its account too
// when the qualification names none; an account or contact not on file is
// ErrUnknownAccount.
func qualify(ctx context.Context, tx pgx.Tx, leadID string, q *workflows.QualifyRecord, at time.Time) (workflows.ChangeResult, error) {
	var contactAccount string
	if q.ContactID != "" {
		var acc *string
		err := tx.QueryRow(ctx, `SELECT account_id FROM contacts WHERE id = $1`, q.ContactID).Scan(&acc)
		if errors.Is(err, pgx.ErrNoRows) {
			return workflows.ChangeResult{}, withKind(ErrUnknownAccount, fmt.Errorf("contact %s is not on file", q.ContactID))
		}
		if err != nil {
			return workflows.ChangeResult{}, fmt.Errorf("find contact %s: %w", q.ContactID, err)
		}
		if acc != nil {
			contactAccount = *acc
		}
	}
	var accountID string
	var err error
	if q.AccountID == "" && contactAccount != "" {
		accountID = contactAccount
	} else if accountID, err = resolveAccount(ctx, tx, q, at); err != nil {
		return workflows.ChangeResult{}, err
	}
	contactID := q.ContactID
	if contactID != "" {
		// A contact on file without an account joins this one; one with an
		// account keeps it.
		if _, err := tx.Exec(ctx, `UPDATE contacts SET account_id = $2 WHERE id = $1 AND account_id IS NULL`,
			contactID, accountID); err != nil {
			return workflows.ChangeResult{}, fmt.Errorf("link contact %s to account %s: %w", contactID, accountID, err)
		}
	} else if contactID, err = resolveContact(ctx, tx, q, accountID, at); err != nil {
		return workflows.ChangeResult{}, err
	}
	for table, id := range map[string]string{"accounts": q.NewAccountID, "contacts": q.NewContactID} {
		if err := ownRowTime(ctx, tx, table, id, at); err != nil {
			return workflows.ChangeResult{}, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE leads SET account_id = $2, contact_id = NULLIF($3, '') WHERE id = $1`,
		leadID, accountID, contactID); err != nil {
		return workflows.ChangeResult{}, fmt.Errorf("link lead to account %s: %w", accountID, err)
	}
	return workflows.ChangeResult{AccountID: accountID, ContactID: contactID}, nil
}

func resolveAccount(ctx context.Context, tx pgx.Tx, q *workflows.QualifyRecord, at time.Time) (string, error) {
	var id string
	if q.AccountID != "" {
		err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE id = $1`, q.AccountID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", withKind(ErrUnknownAccount, fmt.Errorf("account %s is not on file", q.AccountID))
		}
		if err != nil {
			return "", fmt.Errorf("find account %s: %w", q.AccountID, err)
		}
		return id, nil
	}
	name := strings.TrimSpace(q.AccountName)
	if name == "" {
		// A person buying for themselves: the account is named after them.
		name = strings.TrimSpace(q.FirstName + " " + q.LastName)
	}
	if name == "" {
		name = strings.TrimSpace(q.Email)
	}
	if name != "" {
		err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE lower(name) = lower($1)`, name).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("find account %q: %w", name, err)
		}
	}
	if email := strings.TrimSpace(q.Email); email != "" {
		err := tx.QueryRow(ctx, `SELECT account_id FROM contacts
			WHERE email <> '' AND lower(email) = lower($1) AND account_id IS NOT NULL`, email).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("find account of contact %q: %w", email, err)
		}
	}
	if name == "" || q.NewAccountID == "" {
		return "", withKind(ErrInvalidChange,
			errors.New("qualification names neither an account nor a company, contact or new account id"))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, name, created_at, updated_at, name_key, phone_key)
		VALUES ($1, $2, $3, $3, $4, '') ON CONFLICT DO NOTHING`,
		q.NewAccountID, name, at, dedup.Company(name)); err != nil {
		return "", fmt.Errorf("create account %q: %w", name, err)
	}
	// Ours or the one a concurrent qualification created first; by id when
	// this deal created its account earlier under another name.
	err := tx.QueryRow(ctx, `SELECT id FROM (
		SELECT id, 0 AS pref FROM accounts WHERE lower(name) = lower($1)
		UNION ALL SELECT id, 1 FROM accounts WHERE id = $2) a
		ORDER BY pref LIMIT 1`, name, q.NewAccountID).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("read back account %q: %w", name, err)
	}
	return id, nil
}

// ownRowTime sets the times of the account or contact a deal's
// qualification created under its own id to this write's time. A deal
// qualifies once; a second write of its qualification is a rerun of the
// workflow task (a worker or Temporal died before the task completed), and
// the deal's state holds the rerun's time: the rows follow it, as every
// other record of the Change does.
func ownRowTime(ctx context.Context, tx pgx.Tx, table, id string, at time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE `+table+` SET created_at = $2, updated_at = $2
		WHERE id = $1 AND (created_at, updated_at) IS DISTINCT FROM ($2, $2)`, id, at); err != nil {
		return fmt.Errorf("time of %s %s: %w", table, id, err)
	}
	return nil
}

// resolveContact links the contact with the same email (case-insensitive),
// or creates one with the Change's id. A contact without email cannot be
// matched and is created under that id.
func resolveContact(ctx context.Context, tx pgx.Tx, q *workflows.QualifyRecord, accountID string, at time.Time) (string, error) {
	email := strings.TrimSpace(q.Email)
	if email == "" && strings.TrimSpace(q.FirstName+q.LastName) == "" {
		return "", nil
	}
	if q.NewContactID == "" {
		return "", withKind(ErrInvalidChange, errors.New("qualification without a new contact id"))
	}
	// Creates the contact, unless the email (or this deal's contact id) is
	// taken; a contact without an account is attached to this one.
	if _, err := tx.Exec(ctx, `
INSERT INTO contacts (id, account_id, first_name, last_name, email, phone, job_title, created_at, updated_at,
	email_key, phone_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) ON CONFLICT DO NOTHING`,
		q.NewContactID, accountID, q.FirstName, q.LastName, email, q.Phone, q.JobTitle, at,
		dedup.Email(email), dedup.Phone(q.Phone)); err != nil {
		return "", fmt.Errorf("create contact: %w", err)
	}
	var id string
	if email != "" {
		err := tx.QueryRow(ctx, `UPDATE contacts SET account_id = COALESCE(account_id, $2)
			WHERE email <> '' AND lower(email) = lower($1) RETURNING id`, email, accountID).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", fmt.Errorf("find contact %q: %w", email, err)
		}
		// Not found by email: this deal created its contact earlier, before
		// the lead's email was edited.
	}
	if err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE id = $1`, q.NewContactID).Scan(&id); err != nil {
		return "", fmt.Errorf("read back contact %s: %w", q.NewContactID, err)
	}
	return id, nil
}

// upsertOpportunity writes the deal's one opportunity and replaces its child
// rows with the snapshot's, but for those kept names.
func upsertOpportunity(ctx context.Context, tx execer, leadID, currency string, o *workflows.Opportunity, kept *workflows.Kept) error {
	_, err := tx.Exec(ctx, `
INSERT INTO opportunities (id, lead_id, name, customer_need, proposed_solution, currency,
	estimated_revenue, revenue_override, estimated_close_date, probability, status,
	close_reason, close_competitor, close_note, actual_revenue, closed_at, actual_close_date)
VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8::numeric, $9, $10, $11, $12, $13, $14, $15::numeric, $16, $17)
ON CONFLICT (lead_id) DO UPDATE SET
	id = EXCLUDED.id, name = EXCLUDED.name, customer_need = EXCLUDED.customer_need,
	proposed_solution = EXCLUDED.proposed_solution, currency = EXCLUDED.currency,
	estimated_revenue = EXCLUDED.estimated_revenue, revenue_override = EXCLUDED.revenue_override,
	estimated_close_date = EXCLUDED.estimated_close_date, probability = EXCLUDED.probability,
	status = EXCLUDED.status, close_reason = EXCLUDED.close_reason,
	close_competitor = EXCLUDED.close_competitor, close_note = EXCLUDED.close_note,
	actual_revenue = EXCLUDED.actual_revenue, closed_at = EXCLUDED.closed_at,
	actual_close_date = EXCLUDED.actual_close_date`,
		o.ID, leadID, o.Name, o.CustomerNeed, o.ProposedSolution, currency,
		num(workflows.Total(o.Lines)), numPtr(o.RevenueOverride), o.EstimatedCloseDate, o.Probability, o.Status,
		o.CloseReason, o.CloseCompetitor, o.CloseNote, numPtr(o.ActualRevenue), o.ClosedAt, o.ActualCloseDate)
	if err != nil {
		return fmt.Errorf("upsert opportunity %s: %w", o.ID, err)
	}

	if !kept.Stakeholders {
		n := len(o.Stakeholders)
		pos, ids, names, emails, roles := make([]int32, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, s := range o.Stakeholders {
			pos[i], ids[i], names[i], emails[i], roles[i] = int32(i+1), s.ID, s.Name, s.Email, s.Role
		}
		if err := replace(ctx, tx, "opportunity_stakeholders", o.ID, `
INSERT INTO opportunity_stakeholders (opportunity_id, pos, stakeholder_id, name, email, role)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[])`,
			n, pos, ids, names, emails, roles); err != nil {
			return err
		}
	}

	if !kept.Competitors {
		n := len(o.Competitors)
		pos, ids, names, strengths := make([]int32, n), make([]string, n), make([]string, n), make([]string, n)
		for i, c := range o.Competitors {
			pos[i], ids[i], names[i], strengths[i] = int32(i+1), c.ID, c.Name, c.Strengths
		}
		if err := replace(ctx, tx, "opportunity_competitors", o.ID, `
INSERT INTO opportunity_competitors (opportunity_id, pos, competitor_id, name, strengths)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[])`,
			n, pos, ids, names, strengths); err != nil {
			return err
		}
	}

	if !kept.Team {
		n := len(o.Team)
		pos, ids, users, roles := make([]int32, n), make([]string, n), make([]string, n), make([]string, n)
		for i, m := range o.Team {
			pos[i], ids[i], users[i], roles[i] = int32(i+1), m.ID, m.UserID, m.Role
		}
		if err := replace(ctx, tx, "opportunity_team", o.ID, `
INSERT INTO opportunity_team (opportunity_id, pos, member_id, user_id, role)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::text[])`,
			n, pos, ids, users, roles); err != nil {
			return err
		}
	}

	if kept.OpportunityLines {
		return nil
	}
	return replaceLines(ctx, tx, "opportunity_lines", o.ID, o.Lines)
}

// childKey names the parent column of each child table; the table names in
// the SQL below come from this package, never from input.
var childKey = map[string]string{
	"opportunity_stakeholders": "opportunity_id",
	"opportunity_competitors":  "opportunity_id",
	"opportunity_team":         "opportunity_id",
	"opportunity_lines":        "opportunity_id",
	"quote_lines":              "quote_id",
	"order_lines":              "order_id",
	"invoice_lines":            "invoice_id",
}

// replace deletes the child rows of parent in table, then runs insert (whose
// $1 is the parent id, followed by args) when the snapshot has n > 0 rows.
func replace(ctx context.Context, tx execer, table, parent, insert string, n int, args ...any) error {
	key, ok := childKey[table]
	if !ok {
		return fmt.Errorf("replace: unknown child table %q", table)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+key+" = $1", parent); err != nil {
		return fmt.Errorf("clear %s of %s: %w", table, parent, err)
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insert, append([]any{parent}, args...)...); err != nil {
		return fmt.Errorf("write %s of %s: %w", table, parent, err)
	}
	return nil
}

// replaceLines replaces the product lines of an opportunity, quote, order or
// invoice, storing each line as the workflow priced it: what was entered
// (catalog product, unit, price list, percentages) beside the amounts
// computed from it (base_amount is its Amount, amount its ExtendedAmount).
func replaceLines(ctx context.Context, tx execer, table, parent string, lines []workflows.Line) error {
	n := len(lines)
	pos := make([]int32, n)
	ids, products, productIDs, units, priceLists := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	qty, price, disc, tax, amount, base := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	discPct, taxPct := make([]*string, n), make([]*string, n)
	for i, l := range lines {
		pos[i], ids[i], products[i] = int32(i+1), l.ID, l.Product
		productIDs[i], units[i], priceLists[i] = l.ProductID, l.Unit, l.PriceListID
		qty[i], price[i], disc[i], tax[i], amount[i] = num(l.Quantity), num(l.UnitPrice), num(l.Discount), num(l.Tax), num(l.ExtendedAmount)
		base[i], discPct[i], taxPct[i] = num(l.Amount), numPtr(l.DiscountPercent), numPtr(l.TaxPercent)
	}
	return replace(ctx, tx, table, parent, `
INSERT INTO `+table+` (`+childKey[table]+`, pos, line_id, product, quantity, unit_price, discount, tax, amount,
	product_id, unit, price_list_id, discount_percent, tax_percent, base_amount)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[],
	$5::text[]::numeric[], $6::text[]::numeric[], $7::text[]::numeric[], $8::text[]::numeric[], $9::text[]::numeric[],
	$10::text[], $11::text[], $12::text[], $13::text[]::numeric[], $14::text[]::numeric[], $15::text[]::numeric[])`,
		n, pos, ids, products, qty, price, disc, tax, amount,
		productIDs, units, priceLists, discPct, taxPct, base)
}

// summaryArgs are the quote summary's columns (price_list_id, detail_amount,
// discount_percent, discount_amount, pre_freight_amount, freight_amount,
// total_tax) as upsertQuote, upsertOrder and upsertInvoice pass them.
func summaryArgs(priceListID string, s workflows.QuoteSummary) []any {
	return []any{priceListID, num(s.DetailAmount), numPtr(s.DiscountPercent), num(s.Discount),
		num(s.PreFreightAmount), num(s.Freight), num(s.TotalTax)}
}

// summaryColumns and summarySet are the SQL that goes with summaryArgs.
const (
	summaryColumns = `price_list_id, detail_amount, discount_percent, discount_amount, pre_freight_amount, freight_amount, total_tax`
	summarySet     = `price_list_id = EXCLUDED.price_list_id, detail_amount = EXCLUDED.detail_amount,
	discount_percent = EXCLUDED.discount_percent, discount_amount = EXCLUDED.discount_amount,
	pre_freight_amount = EXCLUDED.pre_freight_amount, freight_amount = EXCLUDED.freight_amount,
	total_tax = EXCLUDED.total_tax`
)

// summaryValues is the VALUES placeholders of summaryArgs from $first on.
func summaryValues(first int) string {
	return fmt.Sprintf("$%d, $%d::numeric, $%d::numeric, $%d::numeric, $%d::numeric, $%d::numeric, $%d::numeric",
		first, first+1, first+2, first+3, first+4, first+5, first+6)
}

// upsertQuote writes one quote revision, keyed by (deal, revision), and
// replaces its lines unless they are kept.
func upsertQuote(ctx context.Context, tx execer, leadID, currency string, q *workflows.Quote, linesKept bool) error {
	_, err := tx.Exec(ctx, `
INSERT INTO quotes (id, lead_id, revision, name, status, status_reason, currency, total, payment_terms,
	effective_from, effective_to, created_at, activated_at, closed_at, `+summaryColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9, $10, $11, $12, $13, $14, `+summaryValues(15)+`)
ON CONFLICT (lead_id, revision) DO UPDATE SET
	id = EXCLUDED.id, name = EXCLUDED.name, status = EXCLUDED.status,
	status_reason = EXCLUDED.status_reason, currency = EXCLUDED.currency, total = EXCLUDED.total,
	payment_terms = EXCLUDED.payment_terms, effective_from = EXCLUDED.effective_from,
	effective_to = EXCLUDED.effective_to, created_at = EXCLUDED.created_at,
	activated_at = EXCLUDED.activated_at, closed_at = EXCLUDED.closed_at, `+summarySet,
		append([]any{q.ID, leadID, q.Revision, q.Name, q.Status, q.StatusReason, currency, num(q.Total), q.PaymentTerms,
			q.EffectiveFrom, q.EffectiveTo, q.CreatedAt, q.ActivatedAt, q.ClosedAt}, summaryArgs(q.PriceListID, q.QuoteSummary)...)...)
	if err != nil {
		return fmt.Errorf("upsert quote %s (revision %d): %w", q.ID, q.Revision, err)
	}
	if linesKept {
		return nil
	}
	return replaceLines(ctx, tx, "quote_lines", q.ID, q.Lines)
}

// upsertOrder writes the deal's one order and replaces its lines unless
// they are kept.
func upsertOrder(ctx context.Context, tx execer, leadID, currency string, o *workflows.Order, linesKept bool) error {
	_, err := tx.Exec(ctx, `
INSERT INTO orders (id, lead_id, quote_id, currency, total, payment_terms, status, cancel_reason,
	created_at, fulfilled_at, canceled_at, `+summaryColumns+`)
VALUES ($1, $2, NULLIF($3, ''), $4, $5::numeric, $6, $7, $8, $9, $10, $11, `+summaryValues(12)+`)
ON CONFLICT (lead_id) DO UPDATE SET
	id = EXCLUDED.id, quote_id = EXCLUDED.quote_id, currency = EXCLUDED.currency,
	total = EXCLUDED.total, payment_terms = EXCLUDED.payment_terms, status = EXCLUDED.status,
	cancel_reason = EXCLUDED.cancel_reason, created_at = EXCLUDED.created_at,
	fulfilled_at = EXCLUDED.fulfilled_at, canceled_at = EXCLUDED.canceled_at, `+summarySet,
		append([]any{o.ID, leadID, o.QuoteID, currency, num(o.Total), o.PaymentTerms, o.Status, o.CancelReason,
			o.CreatedAt, o.FulfilledAt, o.CanceledAt}, summaryArgs(o.PriceListID, o.QuoteSummary)...)...)
	if err != nil {
		return fmt.Errorf("upsert order %s: %w", o.ID, err)
	}
	if linesKept {
		return nil
	}
	return replaceLines(ctx, tx, "order_lines", o.ID, o.Lines)
}

// upsertInvoice writes the deal's one invoice (paid amount and status as the
// snapshot has them), replaces its lines unless they are kept and adds the
// payments not recorded yet; a payment already recorded is never rewritten.
func upsertInvoice(ctx context.Context, tx execer, leadID, currency string, inv *workflows.Invoice, linesKept bool) error {
	_, err := tx.Exec(ctx, `
INSERT INTO invoices (id, lead_id, order_id, currency, total, paid_amount, payment_terms, due_date,
	status, cancel_reason, created_at, paid_at, `+summaryColumns+`)
VALUES ($1, $2, NULLIF($3, ''), $4, $5::numeric, $6::numeric, $7, $8, $9, $10, $11, $12, `+summaryValues(13)+`)
ON CONFLICT (lead_id) DO UPDATE SET
	id = EXCLUDED.id, order_id = EXCLUDED.order_id, currency = EXCLUDED.currency,
	total = EXCLUDED.total, paid_amount = EXCLUDED.paid_amount,
	payment_terms = EXCLUDED.payment_terms, due_date = EXCLUDED.due_date, status = EXCLUDED.status,
	cancel_reason = EXCLUDED.cancel_reason, created_at = EXCLUDED.created_at, paid_at = EXCLUDED.paid_at, `+summarySet,
		append([]any{inv.ID, leadID, inv.OrderID, currency, num(inv.Total), num(inv.PaidAmount), inv.PaymentTerms, inv.DueDate,
			inv.Status, inv.CancelReason, inv.CreatedAt, inv.PaidAt}, summaryArgs(inv.PriceListID, inv.QuoteSummary)...)...)
	if err != nil {
		return fmt.Errorf("upsert invoice %s: %w", inv.ID, err)
	}
	if !linesKept {
		if err := replaceLines(ctx, tx, "invoice_lines", inv.ID, inv.Lines); err != nil {
			return err
		}
	}
	// The payments are the invoice's, whole: a row the snapshot lacks was
	// written by a workflow task that failed after its local activity (see
	// insertEvent) and goes.
	n := len(inv.Payments)
	seqs, amounts, discounts, ats := make([]int32, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, p := range inv.Payments {
		seqs[i], amounts[i], discounts[i], ats[i] = int32(p.Seq), num(p.Amount), num(p.Discount), p.At
	}
	if _, err := tx.Exec(ctx, `DELETE FROM invoice_payments WHERE invoice_id = $1 AND seq <> ALL($2::int[])`, inv.ID, seqs); err != nil {
		return fmt.Errorf("record payments of invoice %s: %w", inv.ID, err)
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO invoice_payments (invoice_id, seq, amount, discount, paid_at)
SELECT $1, * FROM unnest($2::int[], $3::text[]::numeric[], $4::text[]::numeric[], $5::timestamptz[])
ON CONFLICT (invoice_id, seq) DO UPDATE SET
	amount = EXCLUDED.amount, discount = EXCLUDED.discount, paid_at = EXCLUDED.paid_at`,
		inv.ID, seqs, amounts, discounts, ats); err != nil {
		return fmt.Errorf("record payments of invoice %s: %w", inv.ID, err)
	}
	return nil
}

// upsertActivity writes one activity of the deal as the snapshot has it,
// keyed by (deal, activity id): its every field but whether its reminders
// went out (the messages record those).
func upsertActivity(ctx context.Context, tx execer, leadID string, a *workflows.Activity) error {
	attendees := a.Attendees
	if attendees == nil {
		attendees = []string{} // the column is NOT NULL: none is an empty array
	}
	_, err := tx.Exec(ctx, `
INSERT INTO activities (lead_id, id, type, subject, description, owner, status, direction, phone_number, "to", sent,
	due_at, priority, start_at, end_at, location, attendees, outcome, created_at, created_by, completed_at, canceled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
ON CONFLICT (lead_id, id) DO UPDATE SET
	type = EXCLUDED.type, subject = EXCLUDED.subject, description = EXCLUDED.description,
	owner = EXCLUDED.owner, status = EXCLUDED.status, direction = EXCLUDED.direction,
	phone_number = EXCLUDED.phone_number, "to" = EXCLUDED."to", sent = EXCLUDED.sent,
	due_at = EXCLUDED.due_at, priority = EXCLUDED.priority, start_at = EXCLUDED.start_at,
	end_at = EXCLUDED.end_at, location = EXCLUDED.location, attendees = EXCLUDED.attendees,
	outcome = EXCLUDED.outcome, created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by,
	completed_at = EXCLUDED.completed_at, canceled_at = EXCLUDED.canceled_at`,
		leadID, a.ID, a.Type, a.Subject, a.Description, a.Owner, a.Status, a.Direction, a.PhoneNumber, a.To, a.Sent,
		a.DueAt, a.Priority, a.StartAt, a.EndAt, a.Location, attendees, a.Outcome, a.CreatedAt, a.CreatedBy,
		a.CompletedAt, a.CanceledAt)
	if err != nil {
		return fmt.Errorf("upsert activity %s: %w", a.ID, err)
	}
	return nil
}

// insertEvent writes the step's timeline entry, the deal's latest. A Change
// without an action carries no event.
//
// ApplyChange runs as a local activity, inside the workflow task that takes
// the step: when that task then fails (the worker or Temporal dies before it
// completes), the task is run again and may take a different step, or the
// same one at a later time, under the same seq. So the entry is written as
// it is now, not kept as first written, and entries past it, written by such
// a failed task, go: the timeline in PostgreSQL is the workflow's.
func insertEvent(ctx context.Context, tx execer, leadID string, e workflows.Event) error {
	if e.Action == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM deal_events WHERE lead_id = $1 AND seq > $2`, leadID, e.Seq); err != nil {
		return fmt.Errorf("record event %d: %w", e.Seq, err)
	}
	if _, err := tx.Exec(ctx, `
INSERT INTO deal_events (lead_id, seq, at, actor, action, accepted, detail, stage)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (lead_id, seq) DO UPDATE SET
	at = EXCLUDED.at, actor = EXCLUDED.actor, action = EXCLUDED.action,
	accepted = EXCLUDED.accepted, detail = EXCLUDED.detail, stage = EXCLUDED.stage`,
		leadID, e.Seq, e.At, e.Actor, e.Action, e.Accepted, e.Detail, string(e.Stage)); err != nil {
		return fmt.Errorf("record event %d: %w", e.Seq, err)
	}
	return nil
}

// insertMessage records a follow-up in the outbox once; delivery happens
// after the commit.
func insertMessage(ctx context.Context, tx execer, leadID string, m workflows.Message) error {
	if _, err := tx.Exec(ctx, `
INSERT INTO messages (key, lead_id, kind, recipient, subject, body, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (key) DO NOTHING`,
		m.Key, leadID, m.Kind, m.Recipient, m.Subject, m.Body, m.At); err != nil {
		return fmt.Errorf("record message %s: %w", m.Key, err)
	}
	return nil
}

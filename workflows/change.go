package workflows

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Change is what one step of a deal writes to PostgreSQL: the deal header and
// lead (always, so lists and reports stay current), the timeline event, and
// only the records the step touched. Every part is a full snapshot, never an
// increment, so applying the same Change twice leaves the same rows.
type Change struct {
	Deal  DealHeader `json:"deal"`
	Lead  Lead       `json:"lead"`
	Event Event      `json:"event"`

	// Qualify is set on the step that qualifies the lead: the account is
	// linked (existing one by company name or contact email) or created, and
	// the contact is created or linked by email.
	Qualify *QualifyRecord `json:"qualify,omitempty"`

	Opportunity *Opportunity `json:"opportunity,omitempty"`
	Quotes      []Quote      `json:"quotes,omitempty"`
	Order       *Order       `json:"order,omitempty"`
	Invoice     *Invoice     `json:"invoice,omitempty"`
	Activities  []Activity   `json:"activities,omitempty"`
	// Messages are follow-ups to record in the outbox (unique by Key) and deliver.
	Messages []Message `json:"messages,omitempty"`

	// Records is every record of the deal after the step, touched or not.
	// ApplyChange writes the touched ones above, unless it finds the deal
	// already has a write at this step's seq or later: a workflow task that
	// wrote (ApplyChange runs as a local activity, inside the task) and then
	// failed, whose re-run may take another step. It then makes the deal's
	// rows these records, whatever that task left. Nil in a Change from
	// before it (a remote ApplyChange's input recorded in a history).
	Records *Records `json:"records,omitempty"`

	// Kept names the child rows of the touched records that the step left
	// as the deal's previous step had them (Deal.keptBy), so the store does
	// not delete and insert them again. Nil writes every child row; the
	// store ignores it where it rewrites the deal from Records.
	Kept *Kept `json:"kept,omitempty"`
}

// Kept says which child row lists of a Change's touched records are the same
// as at the deal's previous step.
type Kept struct {
	OpportunityLines bool `json:"opportunityLines,omitempty"`
	Stakeholders     bool `json:"stakeholders,omitempty"`
	Competitors      bool `json:"competitors,omitempty"`
	Team             bool `json:"team,omitempty"`
	// QuoteLines are the IDs of the touched quotes whose lines are kept.
	QuoteLines   []string `json:"quoteLines,omitempty"`
	OrderLines   bool     `json:"orderLines,omitempty"`
	InvoiceLines bool     `json:"invoiceLines,omitempty"`
}

// none reports whether nothing is kept.
func (k Kept) none() bool {
	return !k.OpportunityLines && !k.Stakeholders && !k.Competitors && !k.Team &&
		len(k.QuoteLines) == 0 && !k.OrderLines && !k.InvoiceLines
}

// QuoteLinesKept reports whether the lines of quote id are kept.
func (k *Kept) QuoteLinesKept(id string) bool {
	return k != nil && slices.Contains(k.QuoteLines, id)
}

// Records is every record a deal owns beside its lead row: what
// PostgreSQL must hold for it after each step.
type Records struct {
	Opportunity *Opportunity `json:"opportunity,omitempty"`
	Quotes      []Quote      `json:"quotes,omitempty"`
	Order       *Order       `json:"order,omitempty"`
	Invoice     *Invoice     `json:"invoice,omitempty"`
	Activities  []Activity   `json:"activities,omitempty"`
	Messages    []Message    `json:"messages,omitempty"`
}

// DealHeader is the deal's row in the leads table beside the lead fields: what
// the API lists and filters by.
type DealHeader struct {
	ID             string          `json:"id"`
	Owner          string          `json:"owner"`
	Stage          Stage           `json:"stage"`
	Status         Status          `json:"status"`
	Currency       string          `json:"currency"`
	PriceListID    string          `json:"priceListId,omitempty"`
	Customer       string          `json:"customer"`
	Value          decimal.Decimal `json:"value"`
	AccountID      string          `json:"accountId,omitempty"`
	ContactID      string          `json:"contactId,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
	StageEnteredAt time.Time       `json:"stageEnteredAt"`
	ClosedAt       *time.Time      `json:"closedAt,omitempty"`
}

// QualifyRecord carries what qualification writes besides the opportunity.
type QualifyRecord struct {
	// AccountID, when set, links an account already on file.
	AccountID string `json:"accountId,omitempty"`
	// ContactID, when set, links a contact already on file.
	ContactID   string `json:"contactId,omitempty"`
	AccountName string `json:"accountName"`
	// NewAccountID is the deterministic ID used if a new account is created.
	NewAccountID string `json:"newAccountId"`
	// NewContactID is the deterministic ID used if a new contact is created.
	NewContactID string `json:"newContactId"`
	FirstName    string `json:"firstName,omitempty"`
	LastName     string `json:"lastName,omitempty"`
	Email        string `json:"email,omitempty"`
	Phone        string `json:"phone,omitempty"`
	JobTitle     string `json:"jobTitle,omitempty"`
}

// ChangeResult is what ApplyChange reports back: the account and contact a
// qualification linked or created (empty otherwise), and the messages it
// found sent that the Change's Records lack or word otherwise.
type ChangeResult struct {
	AccountID string `json:"accountId,omitempty"`
	ContactID string `json:"contactId,omitempty"`
	// Sent are follow-ups a failed workflow task recorded and delivered
	// before it failed (ApplyChange delivers right after its commit), as
	// they went out; the re-run took another step, or the same one at
	// another time. Mail cannot be taken back: the deal adopts them
	// (Deal.AdoptSent), so its messages stay what was sent.
	Sent []Message `json:"sent,omitempty"`
}

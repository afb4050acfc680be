// Package dealrows reads every row one deal owns in PostgreSQL and compares
// it, column by column, with the deal's workflow state. The crash test
// (internal/tests/chaos) uses it after killing the processes that write those rows.
//
// Each row type below has a field for every column of its table, and Load
// reads `SELECT *` into it: pgx refuses a column without a field (and a field
// without a column), so a column added to the schema fails the check until it
// is added here, and Diff then compares it like the others.
package dealrows

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Rows is everything one deal owns in PostgreSQL, table by table. Want builds
// it from the state, Load from the database.
type Rows struct {
	Leads            []Lead
	Accounts         []Account
	Contacts         []Contact
	Opportunities    []Opportunity
	Stakeholders     []Stakeholder
	Competitors      []Competitor
	Team             []TeamMember
	OpportunityLines []OpportunityLine
	Quotes           []Quote
	QuoteLines       []QuoteLine
	Orders           []Order
	OrderLines       []OrderLine
	Invoices         []Invoice
	InvoiceLines     []InvoiceLine
	Payments         []Payment
	Activities       []Activity
	Messages         []Message
	Events           []Event
}

// Len is the number of rows in all tables.
func (r Rows) Len() int {
	n := 0
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		n += v.Field(i).Len()
	}
	return n
}

// Lead is a row of leads: the deal header and the lead.
type Lead struct {
	ID                      string          `db:"id"`
	Owner                   string          `db:"owner"`
	Stage                   string          `db:"stage"`
	Status                  string          `db:"status"`
	Currency                string          `db:"currency"`
	Customer                string          `db:"customer"`
	Value                   decimal.Decimal `db:"value"`
	AccountID               *string         `db:"account_id"`
	ContactID               *string         `db:"contact_id"`
	Topic                   string          `db:"topic"`
	FirstName               string          `db:"first_name"`
	LastName                string          `db:"last_name"`
	Company                 string          `db:"company"`
	JobTitle                string          `db:"job_title"`
	Email                   string          `db:"email"`
	Phone                   string          `db:"phone"`
	Source                  string          `db:"source"`
	Rating                  string          `db:"rating"`
	Budget                  decimal.Decimal `db:"budget"`
	EstimatedValue          decimal.Decimal `db:"estimated_value"`
	PurchaseTimeframe       string          `db:"purchase_timeframe"`
	PurchaseProcess         string          `db:"purchase_process"`
	DecisionMakerIdentified bool            `db:"decision_maker_identified"`
	ExistingAccountID       string          `db:"existing_account_id"`
	LeadStatus              string          `db:"lead_status"`
	DisqualifyReason        string          `db:"disqualify_reason"`
	CreatedAt               time.Time       `db:"created_at"`
	StageEnteredAt          time.Time       `db:"stage_entered_at"`
	ClosedAt                *time.Time      `db:"closed_at"`
	UpdatedAt               time.Time       `db:"updated_at"`
	PriceListID             string          `db:"price_list_id"`
	StatusReason            string          `db:"status_reason"`
	ExistingContactID       string          `db:"existing_contact_id"`
	EmailKey                *string         `db:"email_key"`
	PhoneKey                *string         `db:"phone_key"`
	NameKey                 *string         `db:"name_key"`
}

// Account is a row of accounts. linked marks one the deal links but did not
// create: the state says only its id.
type Account struct {
	ID        string    `db:"id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
	Website   string    `db:"website"`
	Phone     string    `db:"phone"`
	Address   string    `db:"address"`
	UpdatedAt time.Time `db:"updated_at"`
	NameKey   *string   `db:"name_key"`
	PhoneKey  *string   `db:"phone_key"`
	linked    bool
}

// Contact is a row of contacts; linked as for Account.
type Contact struct {
	ID        string    `db:"id"`
	AccountID *string   `db:"account_id"`
	FirstName string    `db:"first_name"`
	LastName  string    `db:"last_name"`
	Email     string    `db:"email"`
	Phone     string    `db:"phone"`
	JobTitle  string    `db:"job_title"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
	EmailKey  *string   `db:"email_key"`
	PhoneKey  *string   `db:"phone_key"`
	linked    bool
}

// Opportunity is a row of opportunities.
type Opportunity struct {
	ID                 string           `db:"id"`
	LeadID             string           `db:"lead_id"`
	Name               string           `db:"name"`
	CustomerNeed       string           `db:"customer_need"`
	ProposedSolution   string           `db:"proposed_solution"`
	Currency           string           `db:"currency"`
	EstimatedRevenue   decimal.Decimal  `db:"estimated_revenue"`
	RevenueOverride    *decimal.Decimal `db:"revenue_override"`
	EstimatedCloseDate *time.Time       `db:"estimated_close_date"`
	Probability        int              `db:"probability"`
	Status             string           `db:"status"`
	CloseReason        string           `db:"close_reason"`
	CloseCompetitor    string           `db:"close_competitor"`
	CloseNote          string           `db:"close_note"`
	ActualRevenue      *decimal.Decimal `db:"actual_revenue"`
	ClosedAt           *time.Time       `db:"closed_at"`
	ActualCloseDate    *time.Time       `db:"actual_close_date"`
}

// Stakeholder is a row of opportunity_stakeholders.
type Stakeholder struct {
	OpportunityID string `db:"opportunity_id"`
	Pos           int    `db:"pos"`
	StakeholderID string `db:"stakeholder_id"`
	Name          string `db:"name"`
	Email         string `db:"email"`
	Role          string `db:"role"`
}

// Competitor is a row of opportunity_competitors.
type Competitor struct {
	OpportunityID string `db:"opportunity_id"`
	Pos           int    `db:"pos"`
	CompetitorID  string `db:"competitor_id"`
	Name          string `db:"name"`
	Strengths     string `db:"strengths"`
}

// TeamMember is a row of opportunity_team.
type TeamMember struct {
	OpportunityID string `db:"opportunity_id"`
	Pos           int    `db:"pos"`
	MemberID      string `db:"member_id"`
	UserID        string `db:"user_id"`
	Role          string `db:"role"`
}

// Line holds the columns the four line tables share. Amount is the line's
// extended amount, BaseAmount its amount before discount and tax.
type Line struct {
	Pos             int              `db:"pos"`
	LineID          string           `db:"line_id"`
	Product         string           `db:"product"`
	Quantity        decimal.Decimal  `db:"quantity"`
	UnitPrice       decimal.Decimal  `db:"unit_price"`
	Discount        decimal.Decimal  `db:"discount"`
	Tax             decimal.Decimal  `db:"tax"`
	Amount          decimal.Decimal  `db:"amount"`
	ProductID       string           `db:"product_id"`
	Unit            string           `db:"unit"`
	PriceListID     string           `db:"price_list_id"`
	DiscountPercent *decimal.Decimal `db:"discount_percent"`
	TaxPercent      *decimal.Decimal `db:"tax_percent"`
	BaseAmount      decimal.Decimal  `db:"base_amount"`
}

// Summary holds the quote summary columns quotes, orders and invoices share
// (workflows.QuoteSummary and the price list), beside each one's total.
type Summary struct {
	PriceListID      string           `db:"price_list_id"`
	DetailAmount     decimal.Decimal  `db:"detail_amount"`
	DiscountPercent  *decimal.Decimal `db:"discount_percent"`
	DiscountAmount   decimal.Decimal  `db:"discount_amount"`
	PreFreightAmount decimal.Decimal  `db:"pre_freight_amount"`
	FreightAmount    decimal.Decimal  `db:"freight_amount"`
	TotalTax         decimal.Decimal  `db:"total_tax"`
}

// OpportunityLine is a row of opportunity_lines.
type OpportunityLine struct {
	OpportunityID string `db:"opportunity_id"`
	Line
}

// Quote is a row of quotes.
type Quote struct {
	ID            string          `db:"id"`
	LeadID        string          `db:"lead_id"`
	Revision      int             `db:"revision"`
	Name          string          `db:"name"`
	Status        string          `db:"status"`
	StatusReason  string          `db:"status_reason"`
	Currency      string          `db:"currency"`
	Total         decimal.Decimal `db:"total"`
	PaymentTerms  string          `db:"payment_terms"`
	EffectiveFrom *time.Time      `db:"effective_from"`
	EffectiveTo   *time.Time      `db:"effective_to"`
	CreatedAt     time.Time       `db:"created_at"`
	ActivatedAt   *time.Time      `db:"activated_at"`
	ClosedAt      *time.Time      `db:"closed_at"`
	Summary
}

// QuoteLine is a row of quote_lines.
type QuoteLine struct {
	QuoteID string `db:"quote_id"`
	Line
}

// Order is a row of orders.
type Order struct {
	ID           string          `db:"id"`
	LeadID       string          `db:"lead_id"`
	QuoteID      *string         `db:"quote_id"`
	Currency     string          `db:"currency"`
	Total        decimal.Decimal `db:"total"`
	PaymentTerms string          `db:"payment_terms"`
	Status       string          `db:"status"`
	CancelReason string          `db:"cancel_reason"`
	CreatedAt    time.Time       `db:"created_at"`
	FulfilledAt  *time.Time      `db:"fulfilled_at"`
	CanceledAt   *time.Time      `db:"canceled_at"`
	Summary
}

// OrderLine is a row of order_lines.
type OrderLine struct {
	OrderID string `db:"order_id"`
	Line
}

// Invoice is a row of invoices.
type Invoice struct {
	ID           string          `db:"id"`
	LeadID       string          `db:"lead_id"`
	OrderID      *string         `db:"order_id"`
	Currency     string          `db:"currency"`
	Total        decimal.Decimal `db:"total"`
	PaidAmount   decimal.Decimal `db:"paid_amount"`
	PaymentTerms string          `db:"payment_terms"`
	DueDate      time.Time       `db:"due_date"`
	Status       string          `db:"status"`
	CancelReason string          `db:"cancel_reason"`
	CreatedAt    time.Time       `db:"created_at"`
	PaidAt       *time.Time      `db:"paid_at"`
	Summary
}

// InvoiceLine is a row of invoice_lines.
type InvoiceLine struct {
	InvoiceID string `db:"invoice_id"`
	Line
}

// Payment is a row of invoice_payments.
type Payment struct {
	InvoiceID string          `db:"invoice_id"`
	Seq       int             `db:"seq"`
	Amount    decimal.Decimal `db:"amount"`
	Discount  decimal.Decimal `db:"discount"`
	PaidAt    time.Time       `db:"paid_at"`
}

// Activity is a row of activities: a call, email, task, appointment or note.
type Activity struct {
	LeadID      string     `db:"lead_id"`
	ID          string     `db:"id"`
	Type        string     `db:"type"`
	Subject     string     `db:"subject"`
	Description string     `db:"description"`
	Owner       string     `db:"owner"`
	Status      string     `db:"status"`
	Direction   string     `db:"direction"`
	PhoneNumber string     `db:"phone_number"`
	To          string     `db:"to"`
	Sent        bool       `db:"sent"`
	DueAt       *time.Time `db:"due_at"`
	Priority    string     `db:"priority"`
	StartAt     *time.Time `db:"start_at"`
	EndAt       *time.Time `db:"end_at"`
	Location    string     `db:"location"`
	Attendees   []string   `db:"attendees"`
	Outcome     string     `db:"outcome"`
	CreatedAt   time.Time  `db:"created_at"`
	CreatedBy   string     `db:"created_by"`
	CompletedAt *time.Time `db:"completed_at"`
	CanceledAt  *time.Time `db:"canceled_at"`
}

// Message is a row of messages, the follow-up outbox. Its delivery columns
// are not the state's (the worker sets them after the mail server answered):
// the tag state:"-" keeps them out of Diff, and the crash test checks them
// against its mail sink instead.
type Message struct {
	Key       string     `db:"key"`
	LeadID    string     `db:"lead_id"`
	Kind      string     `db:"kind"`
	Recipient string     `db:"recipient"`
	Subject   string     `db:"subject"`
	Body      string     `db:"body"`
	CreatedAt time.Time  `db:"created_at"`
	SentAt    *time.Time `db:"sent_at" state:"-"`
	Delivery  *string    `db:"delivery" state:"-"`
	Error     string     `db:"error" state:"-"`
}

// Event is a row of deal_events, the timeline.
type Event struct {
	LeadID   string    `db:"lead_id"`
	Seq      int       `db:"seq"`
	At       time.Time `db:"at"`
	Actor    string    `db:"actor"`
	Action   string    `db:"action"`
	Accepted bool      `db:"accepted"`
	Detail   string    `db:"detail"`
	Stage    string    `db:"stage"`
}

// Querier is what Load reads through: a *pgx.Conn, a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Load reads every row deal leadID owns. Beside the account and contact the
// lead links, it reads those the deal would have created under its own ids
// (NewAccountID, NewContactID), so one created by a step the workflow did not
// keep shows up as a row too many.
func Load(ctx context.Context, q Querier, leadID string) (Rows, error) {
	var r Rows
	l := &loader{ctx: ctx, q: q}
	const (
		opp     = `(SELECT id FROM opportunities WHERE lead_id = $1)`
		quotes  = `(SELECT id FROM quotes WHERE lead_id = $1)`
		orders  = `(SELECT id FROM orders WHERE lead_id = $1)`
		invoice = `(SELECT id FROM invoices WHERE lead_id = $1)`
	)
	load(l, &r.Leads, `SELECT * FROM leads WHERE id = $1`, leadID)
	load(l, &r.Accounts, `SELECT * FROM accounts
		WHERE id = $2 OR id = (SELECT account_id FROM leads WHERE id = $1) ORDER BY id`, leadID, NewAccountID(leadID))
	load(l, &r.Contacts, `SELECT * FROM contacts
		WHERE id = $2 OR id = (SELECT contact_id FROM leads WHERE id = $1) ORDER BY id`, leadID, NewContactID(leadID))
	load(l, &r.Opportunities, `SELECT * FROM opportunities WHERE lead_id = $1`, leadID)
	load(l, &r.Stakeholders, `SELECT * FROM opportunity_stakeholders WHERE opportunity_id IN `+opp+` ORDER BY pos`, leadID)
	load(l, &r.Competitors, `SELECT * FROM opportunity_competitors WHERE opportunity_id IN `+opp+` ORDER BY pos`, leadID)
	load(l, &r.Team, `SELECT * FROM opportunity_team WHERE opportunity_id IN `+opp+` ORDER BY pos`, leadID)
	load(l, &r.OpportunityLines, `SELECT * FROM opportunity_lines WHERE opportunity_id IN `+opp+` ORDER BY pos`, leadID)
	load(l, &r.Quotes, `SELECT * FROM quotes WHERE lead_id = $1 ORDER BY revision`, leadID)
	load(l, &r.QuoteLines, `SELECT * FROM quote_lines WHERE quote_id IN `+quotes+` ORDER BY quote_id, pos`, leadID)
	load(l, &r.Orders, `SELECT * FROM orders WHERE lead_id = $1`, leadID)
	load(l, &r.OrderLines, `SELECT * FROM order_lines WHERE order_id IN `+orders+` ORDER BY pos`, leadID)
	load(l, &r.Invoices, `SELECT * FROM invoices WHERE lead_id = $1`, leadID)
	load(l, &r.InvoiceLines, `SELECT * FROM invoice_lines WHERE invoice_id IN `+invoice+` ORDER BY pos`, leadID)
	load(l, &r.Payments, `SELECT * FROM invoice_payments WHERE invoice_id IN `+invoice+` ORDER BY seq`, leadID)
	load(l, &r.Activities, `SELECT * FROM activities WHERE lead_id = $1 ORDER BY id`, leadID)
	load(l, &r.Messages, `SELECT * FROM messages WHERE lead_id = $1 ORDER BY key`, leadID)
	load(l, &r.Events, `SELECT * FROM deal_events WHERE lead_id = $1 ORDER BY seq`, leadID)
	if l.err != nil {
		return Rows{}, fmt.Errorf("load the rows of deal %s: %w", leadID, l.err)
	}
	return r, nil
}

// loader keeps the first error of a run of queries, so Load reads as the
// list of its tables.
type loader struct {
	ctx context.Context
	q   Querier
	err error
}

func load[R any](l *loader, dst *[]R, sql string, args ...any) {
	if l.err != nil {
		return
	}
	rows, err := l.q.Query(l.ctx, sql, args...)
	if err == nil {
		*dst, err = pgx.CollectRows(rows, pgx.RowToStructByName[R])
	}
	if err != nil {
		l.err = fmt.Errorf("%s: %w", sql, err)
	}
}

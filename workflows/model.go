package workflows

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Stage is where a deal stands in the lead-to-order process.
type Stage string

const (
	StageQualify Stage = "Qualify"
	StageDevelop Stage = "Develop"
	StagePropose Stage = "Propose"
	StageClose   Stage = "Close"
	StageOrder   Stage = "Order"
	StageInvoice Stage = "Invoice"
	StagePaid    Stage = "Paid"
)

// Stages lists the stages in the order a deal goes through them.
var Stages = []Stage{StageQualify, StageDevelop, StagePropose, StageClose, StageOrder, StageInvoice, StagePaid}

// Status is the deal's outcome so far; only StatusOpen deals move forward.
type Status string

const (
	StatusOpen         Status = "open"
	StatusWon          Status = "won"
	StatusLost         Status = "lost"
	StatusDisqualified Status = "disqualified"
	StatusCanceled     Status = "canceled"
)

// Statuses lists every status.
var Statuses = []Status{StatusOpen, StatusWon, StatusLost, StatusDisqualified, StatusCanceled}

// Deal is the whole state of one deal. The workflow owns it; it is what the
// state query returns and what continue-as-new carries to the next run.
type Deal struct {
	ID       string `json:"id"`
	Owner    string `json:"owner"`
	Manager  string `json:"manager"`
	Currency string `json:"currency"`
	// PriceListID is the price list catalog lines are priced from; empty:
	// the default price list of the deal's currency.
	PriceListID string `json:"priceListId,omitempty"`
	// Pricing is the version of the money rules the deal follows (see
	// Price); 0 for deals started before the rules had versions.
	Pricing int    `json:"pricing,omitempty"`
	Stage   Stage  `json:"stage"`
	Status  Status `json:"status"`

	Lead        Lead         `json:"lead"`
	AccountID   string       `json:"accountId,omitempty"`
	ContactID   string       `json:"contactId,omitempty"`
	Opportunity *Opportunity `json:"opportunity,omitempty"`
	Quotes      []Quote      `json:"quotes,omitempty"`
	Order       *Order       `json:"order,omitempty"`
	Invoice     *Invoice     `json:"invoice,omitempty"`
	Activities  []Activity   `json:"activities,omitempty"`

	CreatedAt      time.Time `json:"createdAt"`
	StageEnteredAt time.Time `json:"stageEnteredAt"`
	// LastActivityAt is the time of the last accepted rep action; idle-time
	// follow-ups (lead reminders, stage nudges) count from it.
	LastActivityAt time.Time `json:"lastActivityAt"`
	// ClosedAt is when the deal was lost, disqualified or canceled; the
	// retention window counts from it. A won deal leaves it unset: its close
	// time is the opportunity's ClosedAt.
	ClosedAt *time.Time `json:"closedAt,omitempty"`

	Policy    Policy    `json:"policy"`
	FollowUps FollowUps `json:"followUps"`
	Messages  []Message `json:"messages,omitempty"`
	Timeline  []Event   `json:"timeline"`
	// NextSeq numbers timeline events; NextItem numbers opportunity items.
	NextSeq  int        `json:"nextSeq"`
	NextItem int        `json:"nextItem"`
	History  []StageLog `json:"stageHistory,omitempty"`
	// Applied remembers the results of the latest accepted Updates by Update
	// ID. Temporal deduplicates Update IDs only within one run; this carries
	// the guarantee across continue-as-new, so a client's retry of an action
	// (same Idempotency-Key, same Update ID) is answered, never applied twice.
	Applied []AppliedUpdate `json:"applied,omitempty"`
}

// AppliedUpdate is one accepted Update and what it returned.
type AppliedUpdate struct {
	ID     string `json:"id"`
	Result Result `json:"result"`
}

// maxApplied bounds Applied: retries come within minutes, not hundreds of
// actions later.
const maxApplied = 64

// appliedResult returns the result of an Update already applied.
func (d *Deal) appliedResult(updateID string) (Result, bool) {
	// mutate:equivalent "→ if false" a signal's empty ID is never remembered (TestAppliedUpdatesAreBounded), so the loop would find nothing either
	if updateID == "" {
		return Result{}, false
	}
	for _, a := range d.Applied {
		if a.ID == updateID {
			return a.Result, true
		}
	}
	return Result{}, false
}

// remember records an applied Update's result.
func (d *Deal) remember(updateID string, r Result) {
	if updateID == "" {
		return
	}
	d.Applied = append(d.Applied, AppliedUpdate{updateID, r})
	// mutate:equivalent "→ n >= maxApplied" trimming exactly maxApplied results to their last maxApplied changes nothing
	if n := len(d.Applied); n > maxApplied {
		d.Applied = append([]AppliedUpdate(nil), d.Applied[n-maxApplied:]...)
	}
}

// StageLog records when the deal entered a stage, for cycle-time reports.
type StageLog struct {
	Stage Stage     `json:"stage"`
	At    time.Time `json:"at"`
}

// Lead is the prospect as first captured, edited while in Qualify.
type Lead struct {
	Topic                   string          `json:"topic"`
	FirstName               string          `json:"firstName,omitempty"`
	LastName                string          `json:"lastName,omitempty"`
	Company                 string          `json:"company,omitempty"`
	JobTitle                string          `json:"jobTitle,omitempty"`
	Email                   string          `json:"email,omitempty"`
	Phone                   string          `json:"phone,omitempty"`
	Source                  string          `json:"source,omitempty"`
	Rating                  string          `json:"rating,omitempty"`
	Budget                  decimal.Decimal `json:"budget"`
	EstimatedValue          decimal.Decimal `json:"estimatedValue"`
	PurchaseTimeframe       string          `json:"purchaseTimeframe,omitempty"`
	PurchaseProcess         string          `json:"purchaseProcess,omitempty"`
	DecisionMakerIdentified bool            `json:"decisionMakerIdentified"`
	// ExistingAccountID links the lead to an account already on file instead
	// of a company name.
	ExistingAccountID string `json:"existingAccountId,omitempty"`
	// ExistingContactID links the lead to a contact already on file: qualify
	// uses it instead of creating one.
	ExistingContactID string `json:"existingContactId,omitempty"`
	// Status of the lead record itself: Open, Qualified, Disqualified.
	Status string `json:"status"`
	// StatusReason of an open lead: New, or Contacted once a call, email or
	// meeting with the customer is completed on it.
	StatusReason string `json:"statusReason,omitempty"`
	// DuplicateAllowed: the lead was created although the API found
	// possible duplicates (NewLead.AllowDuplicate).
	DuplicateAllowed bool   `json:"duplicateAllowed,omitempty"`
	DisqualifyReason string `json:"disqualifyReason,omitempty"`
}

// Opportunity is the deal being developed after qualification.
type Opportunity struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	CustomerNeed     string `json:"customerNeed,omitempty"`
	ProposedSolution string `json:"proposedSolution,omitempty"`
	// RevenueOverride, when set, replaces the revenue computed from the lines.
	RevenueOverride    *decimal.Decimal `json:"revenueOverride,omitempty"`
	EstimatedCloseDate *time.Time       `json:"estimatedCloseDate,omitempty"`
	Probability        int              `json:"probability"`
	Stakeholders       []Stakeholder    `json:"stakeholders,omitempty"`
	Competitors        []Competitor     `json:"competitors,omitempty"`
	Team               []TeamMember     `json:"team,omitempty"`
	Lines              []Line           `json:"lines,omitempty"`
	Status             string           `json:"status"` // Open, Won, Lost
	CloseReason        string           `json:"closeReason,omitempty"`
	CloseCompetitor    string           `json:"closeCompetitor,omitempty"`
	CloseNote          string           `json:"closeNote,omitempty"`
	ActualRevenue      *decimal.Decimal `json:"actualRevenue,omitempty"`
	// ClosedAt is when it was closed; ActualCloseDate the day the rep says
	// it was won or lost (Close.CloseDate, default the same).
	ClosedAt        *time.Time `json:"closedAt,omitempty"`
	ActualCloseDate *time.Time `json:"actualCloseDate,omitempty"`
}

// Stakeholder is a person at the customer with a role in the decision.
type Stakeholder struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role"`
}

// Competitor is another vendor in the deal.
type Competitor struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Strengths string `json:"strengths,omitempty"`
}

// TeamMember is a user who works the deal with the owner.
type TeamMember struct {
	ID     string `json:"id"`
	UserID string `json:"userId"`
	Role   string `json:"role,omitempty"`
}

// Line is one product line of an opportunity, quote, order or invoice: what
// the rep entered (or the catalog priced) and the amounts Price computed from
// it, kept with the line so that a later change to the catalog or to the
// rules never changes a line already made.
type Line struct {
	ID string `json:"id"`
	// ProductID is the catalog product the line was priced from; empty for a
	// write-in product, whose name and price the rep typed.
	ProductID string `json:"productId,omitempty"`
	Product   string `json:"product"`
	Unit      string `json:"unit,omitempty"`
	// PriceListID is the price list a catalog line took its price from.
	PriceListID string          `json:"priceListId,omitempty"`
	Quantity    decimal.Decimal `json:"quantity"`
	UnitPrice   decimal.Decimal `json:"unitPrice"`
	// DiscountPercent, when set, is the manual discount as a share of
	// Amount; Discount is then computed from it.
	DiscountPercent *decimal.Decimal `json:"discountPercent,omitempty"`
	// Discount is the manual discount amount.
	Discount decimal.Decimal `json:"discount"`
	// TaxPercent, when set, is the tax rate on Amount - Discount; Tax is then
	// computed from it.
	TaxPercent *decimal.Decimal `json:"taxPercent,omitempty"`
	Tax        decimal.Decimal  `json:"tax"`
	// Amount is quantity × unit price; ExtendedAmount is Amount - Discount +
	// Tax. Both computed by Price.
	Amount         decimal.Decimal `json:"amount"`
	ExtendedAmount decimal.Decimal `json:"extendedAmount"`
}

// Total sums the extended amounts of lines.
func Total(lines []Line) decimal.Decimal {
	sum := decimal.Zero
	for _, l := range lines {
		sum = sum.Add(l.ExtendedAmount)
	}
	return sum
}

// QuoteSummary is Dynamics 365's quote summary: the charges a quote (and the order
// and invoice made from it) adds to its lines, and the amounts Price computes
// from them. Total, the amount to pay, sits beside it on each record.
type QuoteSummary struct {
	// DetailAmount is the sum of the lines' amounts after their manual
	// discounts, before tax.
	DetailAmount decimal.Decimal `json:"detailAmount"`
	// DiscountPercent, when set, is the quote discount as a share of
	// DetailAmount; Discount is then computed from it.
	DiscountPercent *decimal.Decimal `json:"discountPercent,omitempty"`
	// Discount is the quote (header) discount amount.
	Discount decimal.Decimal `json:"discount"`
	// PreFreightAmount is DetailAmount - Discount.
	PreFreightAmount decimal.Decimal `json:"preFreightAmount"`
	Freight          decimal.Decimal `json:"freight"`
	// TotalTax is the sum of the lines' tax.
	TotalTax decimal.Decimal `json:"totalTax"`
}

// Quote statuses and the reasons a quote is closed.
const (
	QuoteDraft  = "Draft"
	QuoteActive = "Active"
	QuoteWon    = "Won"
	QuoteClosed = "Closed"

	QuoteReasonRevised = "Revised"
	QuoteReasonExpired = "Expired"
	QuoteReasonLost    = "Lost"
)

// Quote is one revision of the offer made to the customer.
type Quote struct {
	ID           string `json:"id"`
	Revision     int    `json:"revision"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"statusReason,omitempty"`
	Lines        []Line `json:"lines"`
	PriceListID  string `json:"priceListId,omitempty"`
	QuoteSummary
	// Total is PreFreightAmount + Freight + TotalTax.
	Total         decimal.Decimal `json:"total"`
	PaymentTerms  string          `json:"paymentTerms"`
	EffectiveFrom *time.Time      `json:"effectiveFrom,omitempty"`
	EffectiveTo   *time.Time      `json:"effectiveTo,omitempty"`
	CreatedAt     time.Time       `json:"createdAt"`
	ActivatedAt   *time.Time      `json:"activatedAt,omitempty"`
	ClosedAt      *time.Time      `json:"closedAt,omitempty"`
}

// Order statuses.
const (
	OrderActive   = "Active"
	OrderInvoiced = "Invoiced"
	OrderCanceled = "Canceled"
)

// Order is created from the won quote.
type Order struct {
	ID          string `json:"id"`
	QuoteID     string `json:"quoteId"`
	Lines       []Line `json:"lines"`
	PriceListID string `json:"priceListId,omitempty"`
	QuoteSummary
	Total        decimal.Decimal `json:"total"`
	PaymentTerms string          `json:"paymentTerms"`
	Status       string          `json:"status"`
	CancelReason string          `json:"cancelReason,omitempty"`
	CreatedAt    time.Time       `json:"createdAt"`
	FulfilledAt  *time.Time      `json:"fulfilledAt,omitempty"`
	CanceledAt   *time.Time      `json:"canceledAt,omitempty"`
}

// Invoice statuses.
const (
	InvoiceActive   = "Active"
	InvoicePaid     = "Paid"
	InvoiceCanceled = "Canceled"
)

// Invoice is billed from the fulfilled order.
type Invoice struct {
	ID          string `json:"id"`
	OrderID     string `json:"orderId"`
	Lines       []Line `json:"lines"`
	PriceListID string `json:"priceListId,omitempty"`
	QuoteSummary
	Total        decimal.Decimal `json:"total"`
	PaidAmount   decimal.Decimal `json:"paidAmount"`
	PaymentTerms string          `json:"paymentTerms"`
	DueDate      time.Time       `json:"dueDate"`
	Status       string          `json:"status"`
	CancelReason string          `json:"cancelReason,omitempty"`
	Payments     []Payment       `json:"payments,omitempty"`
	CreatedAt    time.Time       `json:"createdAt"`
	PaidAt       *time.Time      `json:"paidAt,omitempty"`
}

// Payment is one amount received against an invoice.
type Payment struct {
	Seq    int             `json:"seq"`
	Amount decimal.Decimal `json:"amount"`
	At     time.Time       `json:"at"`
	// Discount is the early-payment discount granted when this payment
	// settled the invoice within the terms' discount window.
	Discount decimal.Decimal `json:"discount"`
}

// Message is one follow-up sent by the deal (reminder, nudge, notice).
type Message struct {
	Key       string    `json:"key"` // idempotency key, unique across all deals
	Kind      string    `json:"kind"`
	Recipient string    `json:"recipient"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	At        time.Time `json:"at"`
}

// Event is one entry of the deal's timeline: an action accepted or rejected,
// or something the deal did on its own (a follow-up, an expiry).
type Event struct {
	Seq      int       `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Accepted bool      `json:"accepted"`
	Detail   string    `json:"detail,omitempty"`
	Stage    Stage     `json:"stage"`
}

// Value is the deal's current expected value: the rep's override, else the
// opportunity lines, else the lead's estimate; once won, the actual revenue.
func (d *Deal) Value() decimal.Decimal {
	if o := d.Opportunity; o != nil {
		switch {
		case o.ActualRevenue != nil:
			return *o.ActualRevenue
		case o.RevenueOverride != nil:
			return *o.RevenueOverride
		case len(o.Lines) > 0:
			return Total(o.Lines)
		}
	}
	return d.Lead.EstimatedValue
}

// Customer is the name managers know the deal by.
func (d *Deal) Customer() string {
	if d.Lead.Company != "" {
		return d.Lead.Company
	}
	return d.Lead.FirstName + " " + d.Lead.LastName
}

// ContactName is how messages address the customer's contact: their name,
// or the customer's when the lead has none.
func (d *Deal) ContactName() string {
	if n := strings.TrimSpace(d.Lead.FirstName + " " + d.Lead.LastName); n != "" {
		return n
	}
	return d.Customer()
}

// CurrentQuote is the newest quote revision, or nil.
func (d *Deal) CurrentQuote() *Quote {
	if len(d.Quotes) == 0 {
		return nil
	}
	return &d.Quotes[len(d.Quotes)-1]
}

// quoteByRevision finds a quote revision, or nil.
func (d *Deal) quoteByRevision(rev int) *Quote {
	for i := range d.Quotes {
		if d.Quotes[i].Revision == rev {
			return &d.Quotes[i]
		}
	}
	return nil
}

// OnTeam reports whether user works the deal (owner or sales team member).
func (d *Deal) OnTeam(user string) bool {
	if user == d.Owner {
		return true
	}
	if d.Opportunity != nil {
		for _, m := range d.Opportunity.Team {
			if m.UserID == user {
				return true
			}
		}
	}
	return false
}

package dealrows

import (
	"strings"
	"time"

	"dealflow/internal/dedup"
	"dealflow/workflows"
)

// NewAccountID and NewContactID are the ids a deal's qualification creates
// its account and contact under when it finds none to link (the
// QualifyRecord of workflows' Qualify step). A deal whose ids are these owns
// those records; any other it only links.
func NewAccountID(leadID string) string { return "ACC-" + leadID }
func NewContactID(leadID string) string { return "CON-" + leadID }

// Want returns the rows PostgreSQL should hold for deal d: what ApplyChange
// (internal/store/change.go) writes from the Changes that built d, every one a
// snapshot, so the last write of each record is the state's.
func Want(d *workflows.Deal) Rows {
	r := Rows{Leads: []Lead{wantLead(d)}}
	r.Accounts, r.Contacts = wantParties(d)
	if o := d.Opportunity; o != nil {
		r.Opportunities = []Opportunity{wantOpportunity(d.ID, d.Currency, o)}
		r.Stakeholders, r.Competitors, r.Team = wantPeople(o)
		for i, l := range o.Lines {
			r.OpportunityLines = append(r.OpportunityLines, OpportunityLine{o.ID, wantLine(i, l)})
		}
	}
	for _, q := range d.Quotes {
		r.Quotes = append(r.Quotes, wantQuote(d.ID, d.Currency, q))
		for i, l := range q.Lines {
			r.QuoteLines = append(r.QuoteLines, QuoteLine{q.ID, wantLine(i, l)})
		}
	}
	if o := d.Order; o != nil {
		r.Orders = []Order{wantOrder(d.ID, d.Currency, o)}
		for i, l := range o.Lines {
			r.OrderLines = append(r.OrderLines, OrderLine{o.ID, wantLine(i, l)})
		}
	}
	if inv := d.Invoice; inv != nil {
		r.Invoices = []Invoice{wantInvoice(d.ID, d.Currency, inv)}
		for i, l := range inv.Lines {
			r.InvoiceLines = append(r.InvoiceLines, InvoiceLine{inv.ID, wantLine(i, l)})
		}
		for _, p := range inv.Payments {
			r.Payments = append(r.Payments, Payment{InvoiceID: inv.ID, Seq: p.Seq, Amount: p.Amount, Discount: p.Discount, PaidAt: p.At})
		}
	}
	for _, a := range d.Activities {
		r.Activities = append(r.Activities, wantActivity(d.ID, a))
	}
	for _, m := range d.Messages {
		r.Messages = append(r.Messages, Message{Key: m.Key, LeadID: d.ID, Kind: m.Kind, Recipient: m.Recipient,
			Subject: m.Subject, Body: m.Body, CreatedAt: m.At})
	}
	for _, e := range d.Timeline {
		r.Events = append(r.Events, Event{LeadID: d.ID, Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action,
			Accepted: e.Accepted, Detail: e.Detail, Stage: string(e.Stage)})
	}
	return r
}

func wantLead(d *workflows.Deal) Lead {
	h, l := d.Header(), d.Lead
	// Every step writes the header with its timeline event's time; the
	// deal's first write is its creation.
	updated := h.StageEnteredAt
	if n := len(d.Timeline); n > 0 {
		updated = d.Timeline[n-1].At
	}
	return Lead{ID: h.ID, Owner: h.Owner, Stage: string(h.Stage), Status: string(h.Status), Currency: h.Currency,
		Customer: h.Customer, Value: h.Value, AccountID: nullable(h.AccountID), ContactID: nullable(h.ContactID),
		Topic: l.Topic, FirstName: l.FirstName, LastName: l.LastName, Company: l.Company, JobTitle: l.JobTitle,
		Email: l.Email, Phone: l.Phone, Source: l.Source, Rating: l.Rating, Budget: l.Budget,
		EstimatedValue: l.EstimatedValue, PurchaseTimeframe: l.PurchaseTimeframe, PurchaseProcess: l.PurchaseProcess,
		DecisionMakerIdentified: l.DecisionMakerIdentified, ExistingAccountID: l.ExistingAccountID,
		LeadStatus: l.Status, DisqualifyReason: l.DisqualifyReason,
		CreatedAt: h.CreatedAt, StageEnteredAt: h.StageEnteredAt, ClosedAt: h.ClosedAt, UpdatedAt: updated,
		PriceListID: h.PriceListID, StatusReason: l.StatusReason, ExistingContactID: l.ExistingContactID,
		EmailKey: new(dedup.Email(l.Email)), PhoneKey: new(dedup.Phone(l.Phone)), NameKey: new(dedup.Company(l.Company))}
}

// wantParties returns the account and contact the lead links. Those the
// deal created carry the lead as qualified (its fields cannot change after
// qualification) and the qualification's time; of the others the state
// knows only the id.
func wantParties(d *workflows.Deal) ([]Account, []Contact) {
	at := qualifiedAt(d)
	var accounts []Account
	var contacts []Contact
	if d.AccountID != "" {
		a := Account{ID: d.AccountID, linked: d.AccountID != NewAccountID(d.ID)}
		if !a.linked {
			a.Name, a.CreatedAt, a.UpdatedAt = accountName(d.Lead), at, at
			a.NameKey, a.PhoneKey = new(dedup.Company(a.Name)), new("")
		}
		accounts = append(accounts, a)
	}
	if d.ContactID != "" {
		c := Contact{ID: d.ContactID, linked: d.ContactID != NewContactID(d.ID)}
		if !c.linked {
			l := d.Lead
			c.AccountID, c.FirstName, c.LastName, c.Email = nullable(d.AccountID), l.FirstName, l.LastName, strings.TrimSpace(l.Email)
			c.Phone, c.JobTitle, c.CreatedAt, c.UpdatedAt = l.Phone, l.JobTitle, at, at
			c.EmailKey, c.PhoneKey = new(dedup.Email(c.Email)), new(dedup.Phone(c.Phone))
		}
		contacts = append(contacts, c)
	}
	return accounts, contacts
}

// accountName is the name a qualification gives the account it creates
// (activities' resolveAccount): the company, else the person, else the email.
func accountName(l workflows.Lead) string {
	for _, name := range []string{l.Company, l.FirstName + " " + l.LastName, l.Email} {
		if s := strings.TrimSpace(name); s != "" {
			return s
		}
	}
	return ""
}

// qualifiedAt is when the deal was qualified: the time of the step that
// created its account and contact.
func qualifiedAt(d *workflows.Deal) time.Time {
	for _, e := range d.Timeline {
		if e.Accepted && e.Action == string(workflows.ActQualify) {
			return e.At
		}
	}
	return time.Time{}
}

func wantOpportunity(leadID, currency string, o *workflows.Opportunity) Opportunity {
	return Opportunity{ID: o.ID, LeadID: leadID, Name: o.Name, CustomerNeed: o.CustomerNeed,
		ProposedSolution: o.ProposedSolution, Currency: currency, EstimatedRevenue: workflows.Total(o.Lines),
		RevenueOverride: o.RevenueOverride, EstimatedCloseDate: o.EstimatedCloseDate, Probability: o.Probability,
		Status: o.Status, CloseReason: o.CloseReason, CloseCompetitor: o.CloseCompetitor, CloseNote: o.CloseNote,
		ActualRevenue: o.ActualRevenue, ClosedAt: o.ClosedAt, ActualCloseDate: o.ActualCloseDate}
}

// wantActivity is an activity's row: every field but whether its reminders
// went out (the messages tell that).
func wantActivity(leadID string, a workflows.Activity) Activity {
	return Activity{LeadID: leadID, ID: a.ID, Type: a.Type, Subject: a.Subject, Description: a.Description,
		Owner: a.Owner, Status: a.Status, Direction: a.Direction, PhoneNumber: a.PhoneNumber, To: a.To, Sent: a.Sent,
		DueAt: a.DueAt, Priority: a.Priority, StartAt: a.StartAt, EndAt: a.EndAt, Location: a.Location,
		Attendees: a.Attendees, Outcome: a.Outcome, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy,
		CompletedAt: a.CompletedAt, CanceledAt: a.CanceledAt}
}

// wantPeople returns the opportunity's stakeholders, competitors and team,
// numbered from 1 in the state's order as the writer numbers them.
func wantPeople(o *workflows.Opportunity) ([]Stakeholder, []Competitor, []TeamMember) {
	var s []Stakeholder
	var c []Competitor
	var t []TeamMember
	for i, x := range o.Stakeholders {
		s = append(s, Stakeholder{OpportunityID: o.ID, Pos: i + 1, StakeholderID: x.ID, Name: x.Name, Email: x.Email, Role: x.Role})
	}
	for i, x := range o.Competitors {
		c = append(c, Competitor{OpportunityID: o.ID, Pos: i + 1, CompetitorID: x.ID, Name: x.Name, Strengths: x.Strengths})
	}
	for i, x := range o.Team {
		t = append(t, TeamMember{OpportunityID: o.ID, Pos: i + 1, MemberID: x.ID, UserID: x.UserID, Role: x.Role})
	}
	return s, c, t
}

// wantLine is the i-th line (from 0) of a snapshot, with its amounts as the
// workflow computed them.
func wantLine(i int, l workflows.Line) Line {
	return Line{Pos: i + 1, LineID: l.ID, Product: l.Product, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
		Discount: l.Discount, Tax: l.Tax, Amount: l.ExtendedAmount,
		ProductID: l.ProductID, Unit: l.Unit, PriceListID: l.PriceListID,
		DiscountPercent: l.DiscountPercent, TaxPercent: l.TaxPercent, BaseAmount: l.Amount}
}

// wantSummary is the quote summary of a quote, order or invoice.
func wantSummary(priceListID string, s workflows.QuoteSummary) Summary {
	return Summary{PriceListID: priceListID, DetailAmount: s.DetailAmount, DiscountPercent: s.DiscountPercent,
		DiscountAmount: s.Discount, PreFreightAmount: s.PreFreightAmount, FreightAmount: s.Freight, TotalTax: s.TotalTax}
}

func wantQuote(leadID, currency string, q workflows.Quote) Quote {
	return Quote{ID: q.ID, LeadID: leadID, Revision: q.Revision, Name: q.Name, Status: q.Status,
		StatusReason: q.StatusReason, Currency: currency, Total: q.Total, PaymentTerms: q.PaymentTerms,
		EffectiveFrom: q.EffectiveFrom, EffectiveTo: q.EffectiveTo, CreatedAt: q.CreatedAt,
		ActivatedAt: q.ActivatedAt, ClosedAt: q.ClosedAt, Summary: wantSummary(q.PriceListID, q.QuoteSummary)}
}

func wantOrder(leadID, currency string, o *workflows.Order) Order {
	return Order{ID: o.ID, LeadID: leadID, QuoteID: nullable(o.QuoteID), Currency: currency, Total: o.Total,
		PaymentTerms: o.PaymentTerms, Status: o.Status, CancelReason: o.CancelReason, CreatedAt: o.CreatedAt,
		FulfilledAt: o.FulfilledAt, CanceledAt: o.CanceledAt, Summary: wantSummary(o.PriceListID, o.QuoteSummary)}
}

func wantInvoice(leadID, currency string, inv *workflows.Invoice) Invoice {
	return Invoice{ID: inv.ID, LeadID: leadID, OrderID: nullable(inv.OrderID), Currency: currency, Total: inv.Total,
		PaidAmount: inv.PaidAmount, PaymentTerms: inv.PaymentTerms, DueDate: inv.DueDate, Status: inv.Status,
		CancelReason: inv.CancelReason, CreatedAt: inv.CreatedAt, PaidAt: inv.PaidAt,
		Summary: wantSummary(inv.PriceListID, inv.QuoteSummary)}
}

// nullable is how the writer stores an optional id: NULL when empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

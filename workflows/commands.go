package workflows

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
)

// Command is the input of one rep action.
type Command interface {
	// Action names the command.
	Action() Action
	// Validate checks the input on its own, before any stage rule.
	Validate() []FieldError
	// By is who asks.
	By() string
	// ByRole is the role the API acts with, "" for operators.
	ByRole() string
	// SetActor records who asks (the API sets it from the bearer token).
	SetActor(Actor)
}

// DecodeCommand decodes a command strictly: unknown fields and trailing data
// are errors, so a typo never silently drops a value.
func DecodeCommand(a Action, raw []byte) (Command, error) {
	cmd, ok := NewCommand(a)
	if !ok {
		return nil, fmt.Errorf("unknown action %q", a)
	}
	if err := DecodeStrict(raw, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// DecodeStrict unmarshals JSON rejecting unknown fields and trailing data.
func DecodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// Actor is embedded in every command: the user who asks. The API sets it from
// the bearer token, with that user's role; a signal without it is recorded as
// from "unknown".
type Actor struct {
	Actor string `json:"actor,omitempty"`
	// ActorRole is the API user's role (RoleRep or RoleManager). Set only by
	// the API, which acts for users who may not see every deal; commands
	// without it (signals, the starter) come from operators with access to
	// Temporal itself and are not checked (Deal.Authorize).
	ActorRole string `json:"actorRole,omitempty"`
	// IfMatch is the deal's version the action was decided on (the API's
	// If-Match), 0 for any: see ifmatch.go.
	IfMatch int `json:"ifMatch,omitempty"`
}

// Roles of the API's users: reps work the deals they are on, managers all.
const (
	RoleRep     = "rep"
	RoleManager = "manager"
)

// SetActor records who asks.
func (a *Actor) SetActor(by Actor) { *a = by }

// ByRole returns the role the API acts with, "" when the command is not the
// API's.
func (a Actor) ByRole() string { return a.ActorRole }

// By returns the actor, or "unknown".
func (a Actor) By() string {
	if a.Actor == "" {
		return "unknown"
	}
	return a.Actor
}

// FieldError names one invalid input field and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// The value lists of the lead-to-order process (after Dynamics 365 Sales).
var (
	LeadSources         = []string{"Advertisement", "Employee Referral", "External Referral", "Partner", "Public Relations", "Seminar", "Trade Show", "Web", "Word of Mouth", "Other"}
	Ratings             = []string{"Hot", "Warm", "Cold"}
	PurchaseTimeframes  = []string{"Immediate", "This Quarter", "Next Quarter", "This Year", "Unknown"}
	PurchaseProcesses   = []string{"Individual", "Committee", "Unknown"}
	DisqualifyReasons   = []string{"Lost", "Cannot Contact", "No Longer Interested", "Canceled"}
	StakeholderRoles    = []string{"Decision Maker", "Champion", "Economic Buyer", "Technical Buyer", "Influencer", "End User", "Stakeholder"}
	LostReasons         = []string{"Canceled", "Out-Sold"}
	PaymentTermsOptions = []string{"Net 30", "Net 45", "Net 60", "2% 10, Net 30"}
	// Currencies are the ISO 4217 codes a deal may be priced in.
	Currencies = money.Currencies
)

// Input limits.
const (
	maxText     = 200
	maxLongText = 4000
	maxLines    = 200
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidID reports whether s can be a lead id (it becomes part of the workflow
// ID and of every record key).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// checker collects field errors.
type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{field, fmt.Sprintf(format, args...)})
}

func (c *checker) text(field, v string, required bool, max int) {
	switch {
	case required && strings.TrimSpace(v) == "":
		c.add(field, "is required")
	case utf8.RuneCountInString(v) > max:
		c.add(field, "is longer than %d characters", max)
	case strings.ContainsRune(v, 0): // PostgreSQL cannot store it: the deal would fail
		c.add(field, "must not contain NUL characters")
	case !utf8.ValidString(v): // JSON would turn each bad byte into U+FFFD (3 bytes) on the way to the workflow
		c.add(field, "is not valid UTF-8 text")
	}
}

func (c *checker) oneOf(field, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		c.add(field, "must be one of: %s", strings.Join(allowed, ", "))
	}
}

func (c *checker) email(field, v string) {
	if v == "" {
		return
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v { // ParseAddress refuses an address without @
		c.add(field, "is not a valid email address")
	}
}

func (c *checker) phone(field, v string) {
	if v == "" {
		return
	}
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-().x/", r):
		default:
			c.add(field, "may hold only digits, spaces and + - ( ) . x /")
			return
		}
	}
	if digits < 5 || len(v) > 40 {
		c.add(field, "is not a plausible phone number")
	}
}

// maxMoney bounds amounts so that sums stay exact in NUMERIC(18,4).
var maxMoney = decimal.New(1, 13)

// money checks an amount's sign and size. Its decimals depend on the deal's
// currency: checkAmounts checks them.
func (c *checker) money(field string, v decimal.Decimal, positive bool) {
	switch {
	case v.IsNegative():
		c.add(field, "must not be negative")
	case positive && v.IsZero():
		c.add(field, "must be greater than zero")
	case v.GreaterThanOrEqual(maxMoney):
		c.add(field, "is too large")
	}
}

// percent checks a percentage: 0 to 100.
func (c *checker) percent(field string, v *decimal.Decimal) {
	if v != nil && (v.IsNegative() || v.GreaterThan(hundred)) {
		c.add(field, "must be between 0 and 100")
	}
}

// either refuses two fields that say the same thing two ways.
func (c *checker) either(a string, av bool, b string, bv bool) {
	if av && bv {
		c.add(b, "cannot be combined with %s", a)
	}
}

// LeadFields are the lead's own fields, as created and edited.
type LeadFields struct {
	Topic                   string           `json:"topic"`
	FirstName               string           `json:"firstName,omitempty"`
	LastName                string           `json:"lastName,omitempty"`
	Company                 string           `json:"company,omitempty"`
	JobTitle                string           `json:"jobTitle,omitempty"`
	Email                   string           `json:"email,omitempty"`
	Phone                   string           `json:"phone,omitempty"`
	Source                  string           `json:"source,omitempty"`
	Rating                  string           `json:"rating,omitempty"`
	Budget                  *decimal.Decimal `json:"budget,omitempty"`
	EstimatedValue          *decimal.Decimal `json:"estimatedValue,omitempty"`
	PurchaseTimeframe       string           `json:"purchaseTimeframe,omitempty"`
	PurchaseProcess         string           `json:"purchaseProcess,omitempty"`
	DecisionMakerIdentified bool             `json:"decisionMakerIdentified,omitempty"`
	ExistingAccountID       string           `json:"existingAccountId,omitempty"`
	ExistingContactID       string           `json:"existingContactId,omitempty"`
}

// Validate checks a new lead's fields.
func (f LeadFields) Validate() []FieldError {
	var c checker
	f.check(&c, true)
	return c.errs
}

func (f LeadFields) check(c *checker, requireTopic bool) {
	c.text("topic", f.Topic, requireTopic, maxText)
	c.text("firstName", f.FirstName, false, maxText)
	c.text("lastName", f.LastName, false, maxText)
	c.text("company", f.Company, false, maxText)
	c.text("jobTitle", f.JobTitle, false, maxText)
	c.email("email", f.Email)
	c.phone("phone", f.Phone)
	c.oneOf("source", f.Source, LeadSources)
	c.oneOf("rating", f.Rating, Ratings)
	c.oneOf("purchaseTimeframe", f.PurchaseTimeframe, PurchaseTimeframes)
	c.oneOf("purchaseProcess", f.PurchaseProcess, PurchaseProcesses)
	if f.Budget != nil {
		c.money("budget", *f.Budget, false)
	}
	if f.EstimatedValue != nil {
		c.money("estimatedValue", *f.EstimatedValue, false)
	}
	if f.ExistingAccountID != "" && !ValidID(f.ExistingAccountID) {
		c.add("existingAccountId", "is not a valid id")
	}
	if f.ExistingContactID != "" && !ValidID(f.ExistingContactID) {
		c.add("existingContactId", "is not a valid id")
	}
}

func (f LeadFields) amounts() []amount {
	as := optional(nil, "budget", f.Budget, kindMoney)
	return optional(as, "estimatedValue", f.EstimatedValue, kindMoney)
}

// NewLead is the workflow input: a lead as created, with its owner and the
// follow-up policy. State is set only by continue-as-new.
type NewLead struct {
	ID       string     `json:"id"`
	Owner    string     `json:"owner"`
	Manager  string     `json:"manager"`
	Currency string     `json:"currency"`
	Lead     LeadFields `json:"lead"`
	// Policy overrides DefaultPolicy when set.
	Policy *Policy `json:"policy,omitempty"`
	// PriceListID names the price list the deal's catalog lines are priced
	// from (the API checks it is one of Currency); empty: the currency's
	// default.
	PriceListID string `json:"priceListId,omitempty"`
	// CreatedBy is who created the lead (an API user or an import).
	CreatedBy string `json:"createdBy,omitempty"`
	// AllowDuplicate: the creator saw the possible duplicates the API found
	// and created the lead anyway (recorded on the timeline).
	AllowDuplicate bool `json:"allowDuplicate,omitempty"`
	// State carries a running deal across continue-as-new.
	State *Deal `json:"state,omitempty"`
}

// Validate checks a new lead: the one validation the API and the importer share.
func (n NewLead) Validate() []FieldError { return n.validate(PricingCurrency) }

// validate checks a new lead under a version of the money rules.
func (n NewLead) validate(pricing int) []FieldError {
	var c checker
	if !ValidID(n.ID) {
		c.add("id", "must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
	}
	c.email("owner", n.Owner)
	c.text("owner", n.Owner, true, maxText)
	c.email("manager", n.Manager)
	c.oneOf("currency", n.Currency, Currencies) // none: the deal's default
	n.Lead.check(&c, true)
	if n.PriceListID != "" && !ValidID(n.PriceListID) {
		c.add("priceListId", "is not a valid id")
	}
	cur := n.Currency
	if cur == "" {
		cur = DefaultCurrency
	}
	c.errs = append(c.errs, checkAmounts(pricing, cur, n.Lead.amounts())...)
	if n.Policy != nil {
		if err := n.Policy.Validate(); err != nil {
			c.add("policy", "%v", err)
		}
	}
	return c.errs
}

// EditLead changes lead fields while the lead is in Qualify. Only the fields
// present are changed.
type EditLead struct {
	Actor
	Topic                   *string          `json:"topic,omitempty"`
	FirstName               *string          `json:"firstName,omitempty"`
	LastName                *string          `json:"lastName,omitempty"`
	Company                 *string          `json:"company,omitempty"`
	JobTitle                *string          `json:"jobTitle,omitempty"`
	Email                   *string          `json:"email,omitempty"`
	Phone                   *string          `json:"phone,omitempty"`
	Source                  *string          `json:"source,omitempty"`
	Rating                  *string          `json:"rating,omitempty"`
	Budget                  *decimal.Decimal `json:"budget,omitempty"`
	EstimatedValue          *decimal.Decimal `json:"estimatedValue,omitempty"`
	PurchaseTimeframe       *string          `json:"purchaseTimeframe,omitempty"`
	PurchaseProcess         *string          `json:"purchaseProcess,omitempty"`
	DecisionMakerIdentified *bool            `json:"decisionMakerIdentified,omitempty"`
	ExistingAccountID       *string          `json:"existingAccountId,omitempty"`
	ExistingContactID       *string          `json:"existingContactId,omitempty"`
}

func (EditLead) Action() Action { return ActEditLead }
func (e EditLead) Validate() []FieldError {
	var c checker
	if e.Topic != nil {
		c.text("topic", *e.Topic, true, maxText)
	}
	f := LeadFields{Topic: "x", FirstName: deref(e.FirstName), LastName: deref(e.LastName), Company: deref(e.Company),
		JobTitle: deref(e.JobTitle), Email: deref(e.Email), Phone: deref(e.Phone), Source: deref(e.Source),
		Rating: deref(e.Rating), Budget: e.Budget, EstimatedValue: e.EstimatedValue,
		PurchaseTimeframe: deref(e.PurchaseTimeframe), PurchaseProcess: deref(e.PurchaseProcess),
		ExistingAccountID: deref(e.ExistingAccountID), ExistingContactID: deref(e.ExistingContactID)}
	f.check(&c, false)
	return c.errs
}

func (e EditLead) amounts() []amount {
	return LeadFields{Budget: e.Budget, EstimatedValue: e.EstimatedValue}.amounts()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Qualify turns the lead into an account, a contact and an opportunity.
// ExistingAccountID and ExistingContactID link records already on file (the
// way to resolve possible duplicates); AllowDuplicate creates new ones
// although the API found possible duplicates (recorded on the timeline).
type Qualify struct {
	Actor
	EstimatedCloseDate *time.Time `json:"estimatedCloseDate,omitempty"`
	ExistingAccountID  string     `json:"existingAccountId,omitempty"`
	ExistingContactID  string     `json:"existingContactId,omitempty"`
	AllowDuplicate     bool       `json:"allowDuplicate,omitempty"`
}

func (Qualify) Action() Action { return ActQualify }
func (q Qualify) Validate() []FieldError {
	var c checker
	if q.ExistingAccountID != "" && !ValidID(q.ExistingAccountID) {
		c.add("existingAccountId", "is not a valid id")
	}
	if q.ExistingContactID != "" && !ValidID(q.ExistingContactID) {
		c.add("existingContactId", "is not a valid id")
	}
	return c.errs
}

// Disqualify closes the lead with a reason.
type Disqualify struct {
	Actor
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
}

func (Disqualify) Action() Action { return ActDisqualify }
func (d Disqualify) Validate() []FieldError {
	var c checker
	c.text("reason", d.Reason, true, maxText)
	c.oneOf("reason", d.Reason, DisqualifyReasons)
	c.text("note", d.Note, false, maxLongText)
	return c.errs
}

// Reactivate reopens a disqualified lead.
type Reactivate struct{ Actor }

func (Reactivate) Action() Action         { return ActReactivate }
func (Reactivate) Validate() []FieldError { return nil }

// Assign hands the deal to another owner.
type Assign struct {
	Actor
	Owner string `json:"owner"`
}

func (Assign) Action() Action { return ActAssign }
func (a Assign) Validate() []FieldError {
	var c checker
	c.text("owner", a.Owner, true, maxText)
	c.email("owner", a.Owner)
	return c.errs
}

// EditOpportunity changes the opportunity's details; only fields present change.
type EditOpportunity struct {
	Actor
	CustomerNeed     *string `json:"customerNeed,omitempty"`
	ProposedSolution *string `json:"proposedSolution,omitempty"`
	// EstimatedRevenue overrides the revenue computed from the lines;
	// ClearRevenueOverride goes back to the computed one.
	EstimatedRevenue     *decimal.Decimal `json:"estimatedRevenue,omitempty"`
	ClearRevenueOverride bool             `json:"clearRevenueOverride,omitempty"`
	EstimatedCloseDate   *time.Time       `json:"estimatedCloseDate,omitempty"`
	Probability          *int             `json:"probability,omitempty"`
	// PriceListID changes the price list new catalog lines are priced from
	// (the API checks it is one of the deal's currency); lines already made
	// keep their prices.
	PriceListID *string `json:"priceListId,omitempty"`
}

func (EditOpportunity) Action() Action { return ActEditOpportunity }
func (e EditOpportunity) Validate() []FieldError {
	var c checker
	if e.CustomerNeed != nil {
		c.text("customerNeed", *e.CustomerNeed, false, maxLongText)
	}
	if e.ProposedSolution != nil {
		c.text("proposedSolution", *e.ProposedSolution, false, maxLongText)
	}
	if e.EstimatedRevenue != nil {
		c.money("estimatedRevenue", *e.EstimatedRevenue, false)
		if e.ClearRevenueOverride {
			c.add("clearRevenueOverride", "cannot be combined with estimatedRevenue")
		}
	}
	if e.Probability != nil && (*e.Probability < 0 || *e.Probability > 100) {
		c.add("probability", "must be between 0 and 100")
	}
	if e.PriceListID != nil && !ValidID(*e.PriceListID) {
		c.add("priceListId", "is not a valid id")
	}
	return c.errs
}

func (e EditOpportunity) amounts() []amount {
	return optional(nil, "estimatedRevenue", e.EstimatedRevenue, kindMoney)
}

// AddStakeholder adds a person with a role in the customer's decision.
type AddStakeholder struct {
	Actor
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Role  string `json:"role"`
}

func (AddStakeholder) Action() Action { return ActAddStakeholder }
func (a AddStakeholder) Validate() []FieldError {
	var c checker
	c.text("name", a.Name, true, maxText)
	c.email("email", a.Email)
	c.text("role", a.Role, true, maxText)
	c.oneOf("role", a.Role, StakeholderRoles)
	return c.errs
}

// AddCompetitor adds a competing vendor.
type AddCompetitor struct {
	Actor
	Name      string `json:"name"`
	Strengths string `json:"strengths,omitempty"`
}

func (AddCompetitor) Action() Action { return ActAddCompetitor }
func (a AddCompetitor) Validate() []FieldError {
	var c checker
	c.text("name", a.Name, true, maxText)
	c.text("strengths", a.Strengths, false, maxLongText)
	return c.errs
}

// AddTeamMember puts a user on the deal's sales team.
type AddTeamMember struct {
	Actor
	UserID string `json:"userId"`
	Role   string `json:"role,omitempty"`
}

func (AddTeamMember) Action() Action { return ActAddTeamMember }
func (a AddTeamMember) Validate() []FieldError {
	var c checker
	c.text("userId", a.UserID, true, maxText)
	c.email("userId", a.UserID)
	c.text("role", a.Role, false, maxText)
	return c.errs
}

// LineInput is a product line as a rep enters it: a catalog product
// (ProductID, priced from the deal's price list) or a write-in product (its
// name and unit price typed in).
type LineInput struct {
	ProductID string           `json:"productId,omitempty"`
	Product   string           `json:"product,omitempty"`
	Unit      string           `json:"unit,omitempty"`
	Quantity  decimal.Decimal  `json:"quantity"`
	UnitPrice *decimal.Decimal `json:"unitPrice,omitempty"`
	// The manual discount: an amount, or a percentage of quantity × unit price.
	Discount        *decimal.Decimal `json:"discount,omitempty"`
	DiscountPercent *decimal.Decimal `json:"discountPercent,omitempty"`
	// The tax: an amount, or a rate on the amount after the manual discount.
	Tax        *decimal.Decimal `json:"tax,omitempty"`
	TaxPercent *decimal.Decimal `json:"taxPercent,omitempty"`
	// Catalog is ProductID's price, set by the API from the deal's price list
	// (whatever a client sends here is replaced).
	Catalog *CatalogPrice `json:"catalog,omitempty"`
}

func (l LineInput) check(c *checker, prefix string) {
	if l.ProductID != "" {
		if !ValidID(l.ProductID) {
			c.add(prefix+"productId", "is not a valid product id")
		}
		if l.Product != "" {
			c.add(prefix+"product", "cannot be combined with productId: a catalog line takes its name from the catalog")
		}
		if l.UnitPrice != nil {
			c.add(prefix+"unitPrice", "cannot be combined with productId: a catalog line takes its price from the price list")
		}
	} else {
		c.text(prefix+"product", l.Product, true, maxText)
	}
	c.text(prefix+"unit", l.Unit, false, maxText)
	c.money(prefix+"quantity", l.Quantity, true)
	price := decimal.Zero
	if l.UnitPrice != nil {
		price = *l.UnitPrice
		c.money(prefix+"unitPrice", price, false)
	}
	if l.Discount != nil {
		c.money(prefix+"discount", *l.Discount, false)
		if l.ProductID == "" && l.Discount.GreaterThan(l.Quantity.Mul(price)) {
			c.add(prefix+"discount", "must not exceed quantity × unit price")
		}
	}
	c.either(prefix+"discount", l.Discount != nil, prefix+"discountPercent", l.DiscountPercent != nil)
	c.percent(prefix+"discountPercent", l.DiscountPercent)
	if l.Tax != nil {
		c.money(prefix+"tax", *l.Tax, false)
	}
	c.either(prefix+"tax", l.Tax != nil, prefix+"taxPercent", l.TaxPercent != nil)
	c.percent(prefix+"taxPercent", l.TaxPercent)
}

func (l LineInput) amounts(prefix string) []amount {
	as := []amount{{prefix + "quantity", l.Quantity, kindQuantity}}
	as = optional(as, prefix+"unitPrice", l.UnitPrice, kindMoney)
	as = optional(as, prefix+"discount", l.Discount, kindMoney)
	as = optional(as, prefix+"discountPercent", l.DiscountPercent, kindPercent)
	as = optional(as, prefix+"tax", l.Tax, kindMoney)
	return optional(as, prefix+"taxPercent", l.TaxPercent, kindPercent)
}

// line is the line as entered; the deal prices it (Deal.line).
func (l LineInput) line(id string) Line {
	ln := Line{ID: id, Product: l.Product, Unit: l.Unit, Quantity: l.Quantity,
		DiscountPercent: l.DiscountPercent, TaxPercent: l.TaxPercent}
	if l.UnitPrice != nil {
		ln.UnitPrice = *l.UnitPrice
	}
	if l.Discount != nil {
		ln.Discount = *l.Discount
	}
	if l.Tax != nil {
		ln.Tax = *l.Tax
	}
	return ln
}

// Charges are what a quote adds to its lines: its discount (an amount or a
// percentage of the detail amount) and freight. Fields absent keep their
// value.
type Charges struct {
	Discount        *decimal.Decimal `json:"discount,omitempty"`
	DiscountPercent *decimal.Decimal `json:"discountPercent,omitempty"`
	Freight         *decimal.Decimal `json:"freight,omitempty"`
	// ClearDiscount removes the quote discount.
	ClearDiscount bool `json:"clearDiscount,omitempty"`
}

func (ch Charges) check(c *checker) {
	if ch.Discount != nil {
		c.money("discount", *ch.Discount, false)
	}
	c.either("discount", ch.Discount != nil, "discountPercent", ch.DiscountPercent != nil)
	c.percent("discountPercent", ch.DiscountPercent)
	if ch.ClearDiscount && (ch.Discount != nil || ch.DiscountPercent != nil) {
		c.add("clearDiscount", "cannot be combined with discount or discountPercent")
	}
	if ch.Freight != nil {
		c.money("freight", *ch.Freight, false)
	}
}

func (ch Charges) amounts() []amount {
	as := optional(nil, "discount", ch.Discount, kindMoney)
	as = optional(as, "discountPercent", ch.DiscountPercent, kindPercent)
	return optional(as, "freight", ch.Freight, kindMoney)
}

// apply sets the charges on a summary.
func (ch Charges) apply(s *QuoteSummary) {
	switch {
	case ch.ClearDiscount:
		s.Discount, s.DiscountPercent = decimal.Zero, nil
	case ch.Discount != nil:
		s.Discount, s.DiscountPercent = *ch.Discount, nil
	case ch.DiscountPercent != nil:
		s.DiscountPercent = ch.DiscountPercent
	}
	setVal(&s.Freight, ch.Freight)
}

// AddLine adds a product line to the opportunity.
type AddLine struct {
	Actor
	LineInput
}

func (AddLine) Action() Action { return ActAddLine }
func (a AddLine) Validate() []FieldError {
	var c checker
	a.check(&c, "")
	return c.errs
}
func (a AddLine) amounts() []amount         { return a.LineInput.amounts("") }
func (a *AddLine) LineInputs() []*LineInput { return []*LineInput{&a.LineInput} }

// RemoveItem removes a stakeholder, competitor, team member or line by id;
// Kind is the action (remove_line, …).
type RemoveItem struct {
	Actor
	Kind Action `json:"-"`
	ID   string `json:"id"`
}

func (r RemoveItem) Action() Action { return r.Kind }

// SetItemID names the item to remove (the API takes it from the path).
func (r *RemoveItem) SetItemID(id string) { r.ID = id }

func (r RemoveItem) Validate() []FieldError {
	var c checker
	c.text("id", r.ID, true, maxText)
	return c.errs
}

// Propose creates a draft quote from the opportunity lines.
type Propose struct {
	Actor
	Name         string     `json:"name,omitempty"`
	PaymentTerms string     `json:"paymentTerms,omitempty"`
	EffectiveTo  *time.Time `json:"effectiveTo,omitempty"`
	Charges
}

func (Propose) Action() Action { return ActPropose }
func (p Propose) Validate() []FieldError {
	var c checker
	c.text("name", p.Name, false, maxText)
	c.oneOf("paymentTerms", p.PaymentTerms, PaymentTermsOptions)
	p.Charges.check(&c)
	return c.errs
}

// EditQuote changes a draft quote; Lines, when present, replace its lines.
type EditQuote struct {
	Actor
	Revision     int          `json:"revision"`
	Name         *string      `json:"name,omitempty"`
	PaymentTerms *string      `json:"paymentTerms,omitempty"`
	EffectiveTo  *time.Time   `json:"effectiveTo,omitempty"`
	Lines        *[]LineInput `json:"lines,omitempty"`
	Charges
}

// SetRevision names the quote revision (the API takes it from the path).
func (c *EditQuote) SetRevision(n int) { c.Revision = n }

func (EditQuote) Action() Action { return ActEditQuote }
func (e EditQuote) Validate() []FieldError {
	var c checker
	if e.Revision < 1 {
		c.add("revision", "must be 1 or more")
	}
	if e.Name != nil {
		c.text("name", *e.Name, true, maxText)
	}
	if e.PaymentTerms != nil {
		c.text("paymentTerms", *e.PaymentTerms, true, maxText)
		c.oneOf("paymentTerms", *e.PaymentTerms, PaymentTermsOptions)
	}
	if e.Lines != nil {
		if len(*e.Lines) == 0 {
			c.add("lines", "must hold at least one line")
		}
		if len(*e.Lines) > maxLines {
			c.add("lines", "must hold at most %d lines", maxLines)
		}
		for i, l := range *e.Lines {
			l.check(&c, linePrefix(i))
		}
	}
	e.Charges.check(&c)
	return c.errs
}

func (e EditQuote) amounts() []amount {
	as := e.Charges.amounts()
	if e.Lines != nil {
		for i, l := range *e.Lines {
			as = append(as, l.amounts(linePrefix(i))...)
		}
	}
	return as
}

func (e *EditQuote) LineInputs() []*LineInput {
	if e.Lines == nil {
		return nil
	}
	out := make([]*LineInput, len(*e.Lines))
	for i := range *e.Lines {
		out[i] = &(*e.Lines)[i]
	}
	return out
}

// linePrefix names the fields of a command's i-th line.
func linePrefix(i int) string { return fmt.Sprintf("lines[%d].", i) }

// ActivateQuote presents a draft quote to the customer.
type ActivateQuote struct {
	Actor
	Revision    int        `json:"revision"`
	EffectiveTo *time.Time `json:"effectiveTo,omitempty"`
}

// SetRevision names the quote revision (the API takes it from the path).
func (c *ActivateQuote) SetRevision(n int) { c.Revision = n }

func (ActivateQuote) Action() Action { return ActActivateQuote }
func (a ActivateQuote) Validate() []FieldError {
	var c checker
	if a.Revision < 1 {
		c.add("revision", "must be 1 or more")
	}
	return c.errs
}

// ReviseQuote closes the active quote as Revised and opens draft N+1.
type ReviseQuote struct {
	Actor
	Revision int `json:"revision"`
}

// SetRevision names the quote revision (the API takes it from the path).
func (c *ReviseQuote) SetRevision(n int) { c.Revision = n }

func (ReviseQuote) Action() Action { return ActReviseQuote }
func (r ReviseQuote) Validate() []FieldError {
	var c checker
	if r.Revision < 1 {
		c.add("revision", "must be 1 or more")
	}
	return c.errs
}

// Close ends the opportunity as won or lost.
type Close struct {
	Actor
	Outcome string `json:"outcome"` // won | lost
	// ActualRevenue of a won deal; defaults to the active quote's total.
	ActualRevenue *decimal.Decimal `json:"actualRevenue,omitempty"`
	// Reason of a lost deal: Canceled or Out-Sold.
	Reason     string `json:"reason,omitempty"`
	Competitor string `json:"competitor,omitempty"`
	// Description says how it ended (Dynamics 365's close dialog); Note is
	// its older name.
	Description string `json:"description,omitempty"`
	Note        string `json:"note,omitempty"`
	// CloseDate is the day it was won or lost (default: now); not in the
	// future, not before the deal was created.
	CloseDate *time.Time `json:"closeDate,omitempty"`
}

func (Close) Action() Action { return ActClose }
func (cl Close) Validate() []FieldError {
	var c checker
	switch cl.Outcome {
	case "won":
		if cl.ActualRevenue != nil {
			c.money("actualRevenue", *cl.ActualRevenue, false)
		}
		if cl.Reason != "" {
			c.add("reason", "applies only to a lost deal")
		}
	case "lost":
		c.text("reason", cl.Reason, true, maxText)
		c.oneOf("reason", cl.Reason, LostReasons)
		if cl.Reason == "Out-Sold" && strings.TrimSpace(cl.Competitor) == "" {
			c.add("competitor", "is required when the deal was out-sold")
		}
		if cl.ActualRevenue != nil {
			c.add("actualRevenue", "applies only to a won deal")
		}
	default:
		c.add("outcome", "must be won or lost")
	}
	c.text("competitor", cl.Competitor, false, maxText)
	c.text("note", cl.Note, false, maxLongText)
	c.text("description", cl.Description, false, maxLongText)
	c.either("note", cl.Note != "", "description", cl.Description != "")
	return c.errs
}

func (cl Close) amounts() []amount {
	return optional(nil, "actualRevenue", cl.ActualRevenue, kindMoney)
}

// Reopen takes a lost deal back to Develop.
type Reopen struct{ Actor }

func (Reopen) Action() Action         { return ActReopen }
func (Reopen) Validate() []FieldError { return nil }

// FulfillOrder marks the order delivered and bills it.
type FulfillOrder struct{ Actor }

func (FulfillOrder) Action() Action         { return ActFulfillOrder }
func (FulfillOrder) Validate() []FieldError { return nil }

// CancelOrder cancels the order of a won deal.
type CancelOrder struct {
	Actor
	Reason string `json:"reason"`
}

func (CancelOrder) Action() Action { return ActCancelOrder }
func (co CancelOrder) Validate() []FieldError {
	var c checker
	c.text("reason", co.Reason, true, maxLongText)
	return c.errs
}

// RecordPayment records an amount received against the invoice.
type RecordPayment struct {
	Actor
	Amount decimal.Decimal `json:"amount"`
}

func (RecordPayment) Action() Action { return ActRecordPayment }
func (r RecordPayment) Validate() []FieldError {
	var c checker
	c.money("amount", r.Amount, true)
	return c.errs
}
func (r RecordPayment) amounts() []amount { return []amount{{"amount", r.Amount, kindMoney}} }

// CancelInvoice cancels the invoice.
type CancelInvoice struct {
	Actor
	Reason string `json:"reason"`
}

func (CancelInvoice) Action() Action { return ActCancelInvoice }
func (ci CancelInvoice) Validate() []FieldError {
	var c checker
	c.text("reason", ci.Reason, true, maxLongText)
	return c.errs
}

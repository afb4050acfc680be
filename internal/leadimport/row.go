// Package leadimport reads leads in bulk (CSV with a header row, or JSON
// Lines) and starts one deal per row through deals.Start, with the same
// validation the API applies (workflows.NewLead.Validate). Every row gets a
// lead id, from its id column or derived from its content, so importing a
// file again (or after a crash half-way) creates each deal exactly once.
package leadimport

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"

	"dealflow/internal/deals"
	"dealflow/workflows"
)

// Defaults fill in what a row leaves empty.
type Defaults struct {
	// Owner and Manager are user emails; Manager may be empty (the deal
	// then escalates to its owner). Currency may be empty (USD).
	Owner, Manager, Currency string
	// CreatedBy is recorded as the creator in each deal's timeline.
	CreatedBy string
}

// Row is one record of the input.
type Row struct {
	// Line is the physical line (1-based) the record starts on; a CSV record
	// with quoted line breaks spans several lines.
	Line int
	// Lead is the workflow input, set when Reject is empty.
	Lead workflows.NewLead
	// Reject says why the row cannot be imported; empty when it can.
	Reject string
	// Raw is the record as read: the CSV fields, or the JSON line.
	Raw []string
	// Offset is the input's byte offset after the record, for progress.
	Offset int64
	// key is the row's normalized content (see contentKey).
	key string
}

// field is a lead field as the importer knows it: its name (as in the API's
// JSON), the header spellings that map to it (compared after fold), and how a
// text value is set.
type field struct {
	name    string
	aliases []string
	set     func(b *builder, v string) error
}

// fields lists every column an import file may have. Header names match
// case-, space-, '_' and '-'-insensitively: "First Name", "first_name" and
// "firstName" are all firstName.
var fields = []field{
	{"id", []string{"leadid"}, func(b *builder, v string) error { b.in.ID = v; return nil }},
	{"topic", []string{"subject"}, text(func(l *workflows.LeadFields) *string { return &l.Topic })},
	{"firstName", nil, text(func(l *workflows.LeadFields) *string { return &l.FirstName })},
	{"lastName", []string{"surname"}, text(func(l *workflows.LeadFields) *string { return &l.LastName })},
	{"company", []string{"companyname", "organization", "organisation"}, text(func(l *workflows.LeadFields) *string { return &l.Company })},
	{"jobTitle", []string{"title"}, text(func(l *workflows.LeadFields) *string { return &l.JobTitle })},
	{"email", []string{"emailaddress", "mail"}, text(func(l *workflows.LeadFields) *string { return &l.Email })},
	{"phone", []string{"phonenumber", "businessphone", "telephone"}, text(func(l *workflows.LeadFields) *string { return &l.Phone })},
	{"source", []string{"leadsource"}, oneOf(workflows.LeadSources, func(l *workflows.LeadFields) *string { return &l.Source })},
	{"rating", nil, oneOf(workflows.Ratings, func(l *workflows.LeadFields) *string { return &l.Rating })},
	{"budget", []string{"budgetamount"}, money(func(l *workflows.LeadFields) **decimal.Decimal { return &l.Budget })},
	{"estimatedValue", []string{"estvalue", "value"}, money(func(l *workflows.LeadFields) **decimal.Decimal { return &l.EstimatedValue })},
	{"purchaseTimeframe", []string{"timeframe"}, oneOf(workflows.PurchaseTimeframes, func(l *workflows.LeadFields) *string { return &l.PurchaseTimeframe })},
	{"purchaseProcess", nil, oneOf(workflows.PurchaseProcesses, func(l *workflows.LeadFields) *string { return &l.PurchaseProcess })},
	{"decisionMakerIdentified", []string{"decisionmaker"}, func(b *builder, v string) error {
		ok, err := parseBool(v)
		b.in.Lead.DecisionMakerIdentified = ok
		return err
	}},
	{"existingAccountId", []string{"accountid"}, text(func(l *workflows.LeadFields) *string { return &l.ExistingAccountID })},
	{"owner", nil, func(b *builder, v string) error { b.in.Owner = v; return nil }},
	{"manager", nil, func(b *builder, v string) error { b.in.Manager = v; return nil }},
	{"currency", nil, func(b *builder, v string) error { b.in.Currency = strings.ToUpper(v); return nil }},
}

// fieldByHeader maps a folded header name to its field.
var fieldByHeader = func() map[string]*field {
	m := map[string]*field{}
	for i := range fields {
		f := &fields[i]
		for _, n := range append([]string{f.name}, f.aliases...) {
			m[fold(n)] = f
		}
	}
	return m
}()

// fold is how header names compare: lower case, without spaces, '_', '-', '.'.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '_', '-', '.':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
}

// ColumnNames lists the field names a header may use (each also in other
// spellings: "First Name", "first_name").
func ColumnNames() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

// builder collects one row's values, then finishes it.
type builder struct {
	in   workflows.NewLead
	errs []string
	// given holds each field's value as read, to quote it in reasons.
	given map[string]string
}

func newBuilder() *builder { return &builder{given: map[string]string{}} }

// set assigns a text value to a field; a value that does not parse becomes
// a reason to reject the row.
func (b *builder) set(f *field, v string) {
	v = strings.TrimSpace(v)
	b.given[f.name] = v
	if v == "" {
		return
	}
	if err := f.set(b, v); err != nil {
		b.errs = append(b.errs, fmt.Sprintf("%s %v", f.name, err))
	}
}

func text(at func(*workflows.LeadFields) *string) func(*builder, string) error {
	return func(b *builder, v string) error { *at(&b.in.Lead) = v; return nil }
}

// oneOf takes a value of a fixed list in any case and stores the list's
// spelling ("web" is Web); anything else is stored as given, for the shared
// validation to refuse.
func oneOf(list []string, at func(*workflows.LeadFields) *string) func(*builder, string) error {
	return func(b *builder, v string) error {
		*at(&b.in.Lead) = Canonical(list, v)
		return nil
	}
}

// Canonical returns the entry of list v is, whatever the case ("hot" is
// Hot); v itself when none, for validation to refuse.
func Canonical(list []string, v string) string {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return s
		}
	}
	return v
}

// plainNumber is what a money column may hold: digits with an optional
// fraction, no thousands separators, currency signs or exponents, so that
// "1.234" can never be read as a thousand.
var plainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func money(at func(*workflows.LeadFields) **decimal.Decimal) func(*builder, string) error {
	return func(b *builder, v string) error {
		if !plainNumber.MatchString(v) {
			return fmt.Errorf("%q is not a number (write digits with an optional '.' fraction, e.g. 25000.00)", v)
		}
		d, err := decimal.NewFromString(v)
		if err != nil {
			return fmt.Errorf("%q is not a number: %w", v, err)
		}
		*at(&b.in.Lead) = &d
		return nil
	}
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "y", "1", "x":
		return true, nil
	case "false", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes/no (true, false, yes, no, 1, 0)", v)
}

// finish applies the defaults, validates the lead with the shared validation,
// derives its id when it has none, and returns the row's lead or why it is
// rejected.
func (b *builder) finish(d Defaults) (workflows.NewLead, string, string) {
	in := b.in
	trim(&in)
	if in.Owner == "" {
		in.Owner = d.Owner
	}
	if in.Manager == "" {
		in.Manager = d.Manager
	}
	if in.Currency == "" {
		in.Currency = d.Currency
	}
	in.CreatedBy = d.CreatedBy
	key := contentKey(in.Lead)
	if in.ID == "" {
		in.ID = deals.DerivedID("import", key)
	}
	reasons := b.errs
	for _, fe := range in.Validate() {
		if parsed(b.errs, fe.Field) {
			continue // its value did not parse: already said
		}
		r := fe.Field + " " + fe.Reason
		if v := b.given[fe.Field]; v != "" {
			r += fmt.Sprintf(" (%q)", v)
		}
		reasons = append(reasons, r)
	}
	return in, strings.Join(reasons, "; "), key
}

// parsed reports whether a reason about field is already among errs.
func parsed(errs []string, field string) bool {
	for _, e := range errs {
		if strings.HasPrefix(e, field+" ") {
			return true
		}
	}
	return false
}

// trim removes surrounding white space from every text field.
func trim(in *workflows.NewLead) {
	for _, p := range []*string{&in.ID, &in.Owner, &in.Manager, &in.Currency,
		&in.Lead.Topic, &in.Lead.FirstName, &in.Lead.LastName, &in.Lead.Company, &in.Lead.JobTitle,
		&in.Lead.Email, &in.Lead.Phone, &in.Lead.Source, &in.Lead.Rating, &in.Lead.PurchaseTimeframe,
		&in.Lead.PurchaseProcess, &in.Lead.ExistingAccountID} {
		*p = strings.TrimSpace(*p)
	}
}

// contentKey is a lead's identity for a row without an id: its lead fields,
// each trimmed, with runs of white space made one space and in lower case,
// amounts in canonical form ("25000.00" is 25000), in a fixed order. The
// owner, manager and currency are not part of it: the same lead imported
// with another -owner is still the same lead. A row whose content is edited
// is a new lead; give rows an id column to keep their identity across edits.
//
// The field list is explicit, not derived from LeadFields, so that a field
// added later does not change the ids of leads imported before.
func contentKey(l workflows.LeadFields) string {
	num := func(d *decimal.Decimal) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	parts := []string{l.Topic, l.FirstName, l.LastName, l.Company, l.JobTitle, l.Email, l.Phone,
		l.Source, l.Rating, num(l.Budget), num(l.EstimatedValue), l.PurchaseTimeframe, l.PurchaseProcess,
		fmt.Sprint(l.DecisionMakerIdentified), l.ExistingAccountID}
	for i, p := range parts {
		parts[i] = strings.ToLower(strings.Join(strings.Fields(p), " "))
	}
	return strings.Join(parts, "\x1f")
}

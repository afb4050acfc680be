package dealrows

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Kind says how a record differs.
type Kind int

const (
	// Changed: the record is in both, a column differs.
	Changed Kind = iota
	// Missing: the state has the record, PostgreSQL does not (lost).
	Missing
	// Extra: PostgreSQL has a record the state does not (a row too many:
	// left over, or written twice).
	Extra
)

// Difference is one way PostgreSQL differs from the state.
type Difference struct {
	Kind Kind
	// Record names the row as its table keys it: "quote QUO-x-2 line 1".
	Record string
	// Column is the differing column (Changed only).
	Column string
	// PG and State are the values (Changed) or the whole row (Missing: State;
	// Extra: PG) as text.
	PG, State string
	// PGTime is PostgreSQL's time for the difference, when there is one:
	// the value of a differing time column, or the creation (or event) time
	// of an extra row. The writer stores the step's workflow time as a
	// record's creation and event times, and that is the start of the
	// workflow task that took the step, so the crash test can tell from it
	// which task wrote the row.
	PGTime time.Time
}

func (d Difference) String() string {
	switch d.Kind {
	case Missing:
		return fmt.Sprintf("%s is in the state but not in PostgreSQL (%s)", d.Record, d.State)
	case Extra:
		return fmt.Sprintf("%s is in PostgreSQL but not in the state (%s)", d.Record, d.PG)
	}
	return fmt.Sprintf("%s %s %s in PostgreSQL, %s in the state", d.Record, d.Column, d.PG, d.State)
}

// Diff compares every row and every column of got (PostgreSQL) with want
// (the state): money exactly (decimal.Equal: 450 equals 450.00), times to
// the microsecond PostgreSQL keeps, NULL apart from any value.
func Diff(want, got Rows) []Difference {
	return slices.Concat(
		diffTable(want.Leads, got.Leads),
		diffTable(want.Accounts, got.Accounts),
		diffTable(want.Contacts, got.Contacts),
		diffTable(want.Opportunities, got.Opportunities),
		diffTable(want.Stakeholders, got.Stakeholders),
		diffTable(want.Competitors, got.Competitors),
		diffTable(want.Team, got.Team),
		diffTable(want.OpportunityLines, got.OpportunityLines),
		diffTable(want.Quotes, got.Quotes),
		diffTable(want.QuoteLines, got.QuoteLines),
		diffTable(want.Orders, got.Orders),
		diffTable(want.OrderLines, got.OrderLines),
		diffTable(want.Invoices, got.Invoices),
		diffTable(want.InvoiceLines, got.InvoiceLines),
		diffTable(want.Payments, got.Payments),
		diffTable(want.Activities, got.Activities),
		diffTable(want.Messages, got.Messages),
		diffTable(want.Events, got.Events),
	)
}

// record is a row that names itself by its table's key.
type record interface{ key() string }

func (Lead) key() string          { return "lead row" }
func (a Account) key() string     { return "account " + a.ID }
func (c Contact) key() string     { return "contact " + c.ID }
func (o Opportunity) key() string { return "opportunity " + o.ID }
func (s Stakeholder) key() string {
	return fmt.Sprintf("opportunity %s stakeholder %d", s.OpportunityID, s.Pos)
}
func (c Competitor) key() string {
	return fmt.Sprintf("opportunity %s competitor %d", c.OpportunityID, c.Pos)
}
func (m TeamMember) key() string {
	return fmt.Sprintf("opportunity %s team member %d", m.OpportunityID, m.Pos)
}
func (l OpportunityLine) key() string {
	return fmt.Sprintf("opportunity %s line %d", l.OpportunityID, l.Pos)
}
func (q Quote) key() string       { return "quote " + q.ID }
func (l QuoteLine) key() string   { return fmt.Sprintf("quote %s line %d", l.QuoteID, l.Pos) }
func (o Order) key() string       { return "order " + o.ID }
func (l OrderLine) key() string   { return fmt.Sprintf("order %s line %d", l.OrderID, l.Pos) }
func (i Invoice) key() string     { return "invoice " + i.ID }
func (l InvoiceLine) key() string { return fmt.Sprintf("invoice %s line %d", l.InvoiceID, l.Pos) }
func (p Payment) key() string     { return fmt.Sprintf("invoice %s payment %d", p.InvoiceID, p.Seq) }
func (a Activity) key() string    { return "activity " + a.ID }
func (m Message) key() string     { return "message " + m.Key }
func (e Event) key() string       { return fmt.Sprintf("timeline event %d", e.Seq) }

// writtenAt is the step time a row carries, for rows that have one: the
// step that created it (or, for an event or a payment, that it records).
func writtenAt(row any) time.Time {
	switch r := row.(type) {
	case Account:
		return r.CreatedAt
	case Contact:
		return r.CreatedAt
	case Quote:
		return r.CreatedAt
	case Order:
		return r.CreatedAt
	case Invoice:
		return r.CreatedAt
	case Payment:
		return r.PaidAt
	case Activity:
		return r.CreatedAt
	case Message:
		return r.CreatedAt
	case Event:
		return r.At
	}
	return time.Time{}
}

// linkedOnly marks an expected row of which the state knows only the id.
func (a Account) linkedOnly() bool { return a.linked }
func (c Contact) linkedOnly() bool { return c.linked }

// diffTable pairs the rows by key: the state's in its order, then
// PostgreSQL's extra ones.
func diffTable[R record](want, got []R) []Difference {
	byKey := make(map[string]R, len(got))
	for _, g := range got {
		byKey[g.key()] = g
	}
	var out []Difference
	inState := make(map[string]bool, len(want))
	for _, w := range want {
		k := w.key()
		inState[k] = true
		g, ok := byKey[k]
		if !ok {
			out = append(out, Difference{Kind: Missing, Record: k, State: render(w)})
			continue
		}
		out = append(out, diffRow(k, w, g)...)
	}
	for _, g := range got {
		if k := g.key(); !inState[k] {
			out = append(out, Difference{Kind: Extra, Record: k, PG: render(g), PGTime: writtenAt(g)})
		}
	}
	return out
}

// diffRow compares the columns of one record.
func diffRow(key string, want, got any) []Difference {
	onlyID := false
	if l, ok := want.(interface{ linkedOnly() bool }); ok {
		onlyID = l.linkedOnly()
	}
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	var out []Difference
	for _, c := range columns(w.Type()) {
		if !c.fromState || (onlyID && c.name != "id") {
			continue
		}
		wv, gv := w.FieldByIndex(c.index), g.FieldByIndex(c.index)
		if !equal(wv, gv) {
			d := Difference{Kind: Changed, Record: key, Column: c.name, PG: show(gv), State: show(wv)}
			if v := reflect.Indirect(gv); v.IsValid() && v.Type() == timeType {
				d.PGTime = v.Interface().(time.Time)
			}
			out = append(out, d)
		}
	}
	return out
}

// column is one column of a row type: its db tag, where the field is, and
// whether the state determines it (no state:"-" tag).
type column struct {
	name      string
	index     []int
	fromState bool
}

// columns lists a row type's columns in field order, embedded Line included.
func columns(t reflect.Type) []column {
	var out []column
	for _, f := range reflect.VisibleFields(t) {
		name, ok := f.Tag.Lookup("db")
		if !ok || !f.IsExported() {
			continue
		}
		out = append(out, column{name: name, index: f.Index, fromState: f.Tag.Get("state") != "-"})
	}
	return out
}

var (
	decimalType = reflect.TypeFor[decimal.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
)

// equal compares two values of one column's type. An array column holds
// no NULL: an empty one equals none.
func equal(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	switch a.Type() {
	case decimalType:
		return a.Interface().(decimal.Decimal).Equal(b.Interface().(decimal.Decimal))
	case timeType:
		return pgTime(a.Interface().(time.Time)).Equal(pgTime(b.Interface().(time.Time)))
	}
	return a.Interface() == b.Interface()
}

// pgTime is t as a timestamptz column keeps it: pgx sends whole
// microseconds, dropping the rest.
func pgTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// show renders a value for a report.
func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "NULL"
		}
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case decimal.Decimal:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return strconv.Quote(x)
	case []string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprint(v.Interface())
}

// render is a whole row as "column value" pairs.
func render(row any) string {
	v := reflect.ValueOf(row)
	var parts []string
	for _, c := range columns(v.Type()) {
		parts = append(parts, c.name+" "+show(v.FieldByIndex(c.index)))
	}
	return strings.Join(parts, ", ")
}

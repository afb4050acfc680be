package leadimport

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// Format is an input file format.
type Format string

const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// FormatOf picks the format: the flag value when given ("csv", "jsonl"),
// else by the file's extension (.csv; .jsonl, .ndjson).
func FormatOf(path, flag string) (Format, error) {
	switch strings.ToLower(flag) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson", "json-lines":
		return JSONL, nil
	case "":
	default:
		return "", fmt.Errorf("unknown format %q: want csv or jsonl", flag)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its extension: name it .csv or .jsonl, or pass -format", path)
}

// Source yields the rows of an input, in order.
type Source interface {
	// Next returns the next row, or io.EOF after the last. A row that
	// cannot be imported is returned with Reject set; an error is only for
	// input that cannot be read at all.
	Next() (Row, error)
	// Header names the columns of Row.Raw, for the rejects file.
	Header() []string
}

// Options configure a Source.
type Options struct {
	Defaults Defaults
	// IgnoreUnknownColumns skips CSV columns that are not lead fields
	// instead of refusing the file.
	IgnoreUnknownColumns bool
}

// NewSource returns the reader of r in format f. For CSV it reads the header
// row, and fails when a column is unknown (unless ignored), named twice, or
// the topic column is missing.
func NewSource(r io.Reader, f Format, o Options) (Source, error) {
	switch f {
	case CSV:
		return newCSVSource(r, o)
	case JSONL:
		return &jsonlSource{r: bufio.NewReaderSize(r, 64<<10), o: o}, nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// csvSource reads a CSV file whose first record names the columns.
type csvSource struct {
	r      *csv.Reader
	o      Options
	header []string
	cols   []*field // per column; nil for an ignored one
}

// OpenCSV reads a CSV file's header row and returns the reader positioned at
// its first data row. Rows may have any number of fields: each is checked
// on its own, so a bad row is rejected rather than stopping the file. (The
// catalog import shares it.)
func OpenCSV(in io.Reader) (*csv.Reader, []string, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("the file is empty: want a header row naming the columns")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the header row: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a BOM, as spreadsheets write it
	}
	return r, header, nil
}

func newCSVSource(in io.Reader, o Options) (*csvSource, error) {
	r, header, err := OpenCSV(in)
	if err != nil {
		return nil, err
	}
	s := &csvSource{r: r, o: o, header: header, cols: make([]*field, len(header))}
	seen := map[string]string{}
	var unknown []string
	for i, h := range header {
		f, ok := fieldByHeader[fold(h)]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", h))
			continue
		}
		if prev, dup := seen[f.name]; dup {
			return nil, fmt.Errorf("columns %q and %q are both %s", prev, h, f.name)
		}
		seen[f.name] = h
		s.cols[i] = f
	}
	if len(unknown) > 0 && !o.IgnoreUnknownColumns {
		return nil, fmt.Errorf("unknown column %s in the header row (known: %s; or pass -ignore-unknown-columns)",
			strings.Join(unknown, ", "), strings.Join(ColumnNames(), ", "))
	}
	if _, ok := seen["topic"]; !ok {
		return nil, fmt.Errorf("the header row has no topic column (columns: %s)", strings.Join(header, ", "))
	}
	return s, nil
}

func (s *csvSource) Header() []string { return s.header }

func (s *csvSource) Next() (Row, error) {
	for {
		rec, err := s.r.Read()
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// The record is unreadable (a stray or missing quote); the
			// reader goes on at the next line.
			return Row{Line: pe.StartLine, Reject: "not valid CSV: " + pe.Err.Error(), Offset: s.r.InputOffset()}, nil
		}
		if err != nil {
			return Row{}, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := s.r.FieldPos(0)
		row := Row{Line: line, Raw: rec, Offset: s.r.InputOffset()}
		if blank(rec) {
			continue
		}
		if len(rec) != len(s.header) {
			row.Reject = fmt.Sprintf("has %d fields, the header row has %d", len(rec), len(s.header))
			return row, nil
		}
		b := newBuilder()
		for i, v := range rec {
			if f := s.cols[i]; f != nil {
				b.set(f, v)
			}
		}
		row.Lead, row.Reject, row.key = b.finish(s.o.Defaults)
		return row, nil
	}
}

// blank reports whether every field is empty (a line of bare commas).
func blank(rec []string) bool {
	return !slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" })
}

// jsonlSource reads one JSON object per line: the API's create-lead body
// (lead fields at the top level, with id, owner, manager, currency), or a
// NewLead-like object with the fields under "lead".
type jsonlSource struct {
	r      *bufio.Reader
	o      Options
	line   int
	offset int64
}

// jsonRow is one line of JSON Lines.
type jsonRow struct {
	ID       string                `json:"id"`
	Owner    string                `json:"owner"`
	Manager  string                `json:"manager"`
	Currency string                `json:"currency"`
	Lead     *workflows.LeadFields `json:"lead"`
	workflows.LeadFields
}

func (s *jsonlSource) Header() []string { return []string{"record"} }

func (s *jsonlSource) Next() (Row, error) {
	for {
		b, err := s.r.ReadBytes('\n')
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Row{}, fmt.Errorf("read JSON Lines: %w", err)
		}
		s.line++
		s.offset += int64(len(b))
		text := bytes.TrimSpace(b)
		if len(text) == 0 {
			continue
		}
		row := Row{Line: s.line, Raw: []string{string(text)}, Offset: s.offset}
		var jr jsonRow
		if err := workflows.DecodeStrict(text, &jr); err != nil {
			row.Reject = "not a valid lead object: " + err.Error()
			return row, nil
		}
		if jr.Lead != nil && jr.LeadFields != (workflows.LeadFields{}) {
			row.Reject = `has lead fields both at the top level and under "lead": use one`
			return row, nil
		}
		bl := newBuilder()
		bl.in = workflows.NewLead{ID: jr.ID, Owner: jr.Owner, Manager: jr.Manager, Currency: strings.ToUpper(jr.Currency), Lead: jr.LeadFields}
		if jr.Lead != nil {
			bl.in.Lead = *jr.Lead
		}
		l := &bl.in.Lead
		l.Source = Canonical(workflows.LeadSources, strings.TrimSpace(l.Source))
		l.Rating = Canonical(workflows.Ratings, strings.TrimSpace(l.Rating))
		l.PurchaseTimeframe = Canonical(workflows.PurchaseTimeframes, strings.TrimSpace(l.PurchaseTimeframe))
		l.PurchaseProcess = Canonical(workflows.PurchaseProcesses, strings.TrimSpace(l.PurchaseProcess))
		bl.given = givenOf(bl.in)
		row.Lead, row.Reject, row.key = bl.finish(s.o.Defaults)
		return row, nil
	}
}

// givenOf lists a decoded row's values by field name, to quote in reasons.
func givenOf(in workflows.NewLead) map[string]string {
	l := in.Lead
	num := func(d *decimal.Decimal) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	return map[string]string{
		"id": in.ID, "owner": in.Owner, "manager": in.Manager, "currency": in.Currency,
		"topic": l.Topic, "firstName": l.FirstName, "lastName": l.LastName, "company": l.Company,
		"jobTitle": l.JobTitle, "email": l.Email, "phone": l.Phone, "source": l.Source, "rating": l.Rating,
		"budget": num(l.Budget), "estimatedValue": num(l.EstimatedValue),
		"purchaseTimeframe": l.PurchaseTimeframe, "purchaseProcess": l.PurchaseProcess,
		"existingAccountId": l.ExistingAccountID,
	}
}

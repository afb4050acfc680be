package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"dealflow/workflows"
)

// MaxBodyBytes bounds every request body (1 MiB); larger ones answer 413.
const MaxBodyBytes = 1 << 20

// jsonMarshal encodes without HTML escaping, so "<" and "&" in a topic stay
// readable.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readBody reads the whole request body within MaxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, malformed("could not read the request body")
	}
	return b, nil
}

// decodeObject decodes a JSON object into dst, a pointer to a struct, field
// by field: JSON that does not parse is a 400; an unknown field, a field of
// the wrong type or a field named in reserved (set by the server, such as
// the actor) is a 422 naming each such field. An empty body decodes as {}
// when emptyOK.
func decodeObject(body []byte, dst any, emptyOK bool, reserved ...string) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		if emptyOK {
			return nil
		}
		return malformed("the request body must be a JSON object")
	}
	if !json.Valid(trimmed) {
		return malformed("the request body is not valid JSON: " + syntaxError(trimmed))
	}
	if trimmed[0] != '{' {
		return malformed("the request body must be a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return malformed("the request body must be a JSON object")
	}
	v := reflect.ValueOf(dst).Elem()
	fields := fieldsOf(v.Type())
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []workflows.FieldError
	for _, k := range keys {
		f, ok := fields[k]
		if !ok || slices.Contains(reserved, k) {
			errs = append(errs, workflows.FieldError{Field: k, Reason: "is not a known field"})
			continue
		}
		pv := reflect.New(f.typ)
		if err := workflows.DecodeStrict(raw[k], pv.Interface()); err != nil {
			errs = append(errs, workflows.FieldError{Field: k, Reason: typeReason(f.typ, err)})
			continue
		}
		v.FieldByIndex(f.index).Set(pv.Elem())
	}
	if len(errs) > 0 {
		return invalid(errs...)
	}
	return nil
}

func syntaxError(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

var (
	decimalType = reflect.TypeFor[decimal.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
)

// typeReason words a field's decoding error for a rep.
func typeReason(t reflect.Type, err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "holds an unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" && t.Kind() != reflect.String {
		// Inside an array or object: name the nested field.
		return fmt.Sprintf("has a %s where %s wants %s", ute.Value, ute.Field, ute.Type)
	}
	switch {
	case t == decimalType:
		return `must be a decimal number, preferably as a string such as "1250.00"`
	case t == timeType:
		return "must be an RFC 3339 date-time such as 2026-03-31T00:00:00Z"
	}
	switch t.Kind() {
	case reflect.String:
		return "must be a string"
	case reflect.Bool:
		return "must be true or false"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "must be an integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "must be an array of objects with valid fields: " + err.Error()
		}
		return "must be an array"
	case reflect.Struct:
		return "must be an object with valid fields: " + err.Error()
	}
	return "has an invalid value"
}

type jsonField struct {
	index []int
	typ   reflect.Type
}

var fieldCache sync.Map // reflect.Type → map[string]jsonField

// fieldsOf maps the JSON names of a struct's fields, embedded structs
// flattened as encoding/json does, to their index paths.
func fieldsOf(t reflect.Type) map[string]jsonField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]jsonField)
	}
	m := map[string]jsonField{}
	collectFields(t, nil, m)
	fieldCache.Store(t, m)
	return m
}

func collectFields(t reflect.Type, prefix []int, m map[string]jsonField) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		idx := append(slices.Clone(prefix), i)
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, m)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := m[name]; !dup {
			m[name] = jsonField{index: idx, typ: f.Type}
		}
	}
}

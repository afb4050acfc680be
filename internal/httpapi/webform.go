package httpapi

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
)

// formJSON turns a posted form into the JSON object the API takes for dst
// (a pointer to the command or request struct), so that a page's action is
// decoded and validated by the very code of the JSON API (decodeObject,
// Validate). Each field is typed by dst's field of that JSON name: a
// checkbox ("on") is true, a number a number, a date (2026-03-31) or a
// datetime-local (2026-03-31T10:00) a UTC RFC 3339 time, anything else a
// string; a name dst does not know stays a string, for decodeObject to
// refuse. Empty values are left out (an optional field not given), except
// text fields of an edit (keepEmpty), which clear the field. The form's own
// fields (csrf, key, next, and the version of the deal an edit form showed)
// are not the command's.
func formJSON(v url.Values, dst any, keepEmpty bool) []byte {
	fields := fieldsOf(reflect.TypeOf(dst).Elem())
	obj := map[string]any{}
	for name, vals := range v {
		switch name {
		case "csrf", "key", "next", "version":
			continue
		}
		if len(vals) == 0 {
			continue
		}
		val := vals[len(vals)-1]
		f, known := fields[name]
		if !known {
			obj[name] = val
			continue
		}
		t := f.typ
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Bool {
			on := false
			for _, x := range vals {
				on = on || x == "on" || x == "true"
			}
			obj[name] = on
			continue
		}
		if val == "" && !(keepEmpty && t.Kind() == reflect.String) {
			continue
		}
		switch {
		case t == timeType:
			obj[name] = formTime(val)
		case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
			if n, err := strconv.Atoi(val); err == nil {
				obj[name] = n
			} else {
				obj[name] = val
			}
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
			obj[name] = vals
		default:
			obj[name] = val
		}
	}
	b, _ := json.Marshal(obj)
	return b
}

var (
	formDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	formDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$`)
)

// formTime turns a date or datetime-local input into RFC 3339 (UTC).
func formTime(s string) string {
	switch {
	case formDate.MatchString(s):
		return s + "T00:00:00Z"
	case formDateTime.MatchString(s):
		return s + ":00Z"
	}
	return s
}

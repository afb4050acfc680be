// Package dedup computes the keys by which dealflow finds possible duplicate
// leads, contacts and accounts, as Dynamics 365's duplicate detection rules
// do: the same email address, the same phone number, the same company name.
// The store writes the keys beside each row (and indexes them) and compares
// them; the lead import compares the rows of one file by them. Keeping the
// folding here, in Go and in one place, means a row on file and a new lead
// are always folded alike.
package dedup

import (
	"slices"
	"strings"
	"unicode"
)

// Keys are a record's duplicate-detection keys; an empty key matches
// nothing.
type Keys struct {
	Email   string
	Phone   string
	Company string
}

// KeysOf returns the keys of a record with this email, phone and company
// (or account) name.
func KeysOf(email, phone, company string) Keys {
	return Keys{Email: Email(email), Phone: Phone(phone), Company: Company(company)}
}

// Empty reports whether no key is set: nothing can match.
func (k Keys) Empty() bool { return k.Email == "" && k.Phone == "" && k.Company == "" }

// Email folds an email address: trimmed, lower case. Addresses differing
// only in case are one mailbox for every provider that matters.
func Email(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// PhoneDigits is how many trailing digits two phone numbers must share to
// match; MinPhoneDigits the fewest a number must have to be compared at all.
const (
	PhoneDigits    = 9
	MinPhoneDigits = 7
)

// Phone folds a phone number: an extension (from an "x" on) is dropped, and
// of the digits the last PhoneDigits are kept, so that spacing, punctuation
// and the way the country is written (+49 30 …, 0049 30 …, 030 …) do not
// matter: "+1 (555) 123-4567", "555.123.4567" and "1-555-123-4567 x12" are
// one number. A number of fewer than MinPhoneDigits digits (an extension, a
// short code) is too short to tell anything and gets no key.
func Phone(s string) string {
	if i := strings.IndexAny(s, "xX"); i >= 0 {
		s = s[:i]
	}
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if len(d) < MinPhoneDigits {
		return ""
	}
	return d[max(0, len(d)-PhoneDigits):]
}

// legalSuffixes are the legal forms Company drops from the end of a name,
// each as the words it folds to (dots and apostrophes removed, lower case).
var legalSuffixes = [][]string{
	{"pty", "ltd"}, {"pty", "limited"}, {"co", "ltd"}, {"and", "co"}, {"and", "company"},
	{"inc"}, {"incorporated"}, {"corp"}, {"corporation"}, {"co"}, {"company"},
	{"llc"}, {"llp"}, {"lp"}, {"ltd"}, {"limited"}, {"gmbh"}, {"ag"}, {"kg"}, {"sa"}, {"sas"}, {"sarl"},
	{"bv"}, {"nv"}, {"plc"}, {"pty"}, {"kk"}, {"ab"}, {"oy"}, {"oyj"}, {"spa"}, {"srl"}, {"sl"},
}

// Company folds a company name for comparison: case, spacing and
// punctuation do not count, and legal forms at its end (Inc, Inc.,
// Incorporated, Corp, Co, LLC, Ltd, Limited, GmbH, AG, SA, SAS, SARL, BV,
// NV, PLC, Pty Ltd, KK, AB, Oy, SpA, Srl, …; several in a row, as in "Co.,
// Ltd.") are dropped, unless nothing else would be left. "Contoso, Ltd.",
// "CONTOSO LIMITED" and "Contoso" fold alike, to "contoso". Dots and
// apostrophes join letters ("S.p.A." is "spa", "O'Neil" "oneil"); "&"
// counts as "and". The words that remain are joined without spaces.
func Company(s string) string {
	s = strings.NewReplacer("&", " and ", "+", " and ").Replace(strings.ToLower(s))
	words := strings.FieldsFunc(strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '\'' || r == '’':
			return -1
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return r
		}
		return ' '
	}, s), unicode.IsSpace)
	for trimmed := true; trimmed; {
		trimmed = false
		for _, suf := range legalSuffixes {
			n := len(words) - len(suf)
			if n >= 1 && slices.Equal(words[n:], suf) {
				words, trimmed = words[:n], true
				break
			}
		}
	}
	return strings.Join(words, "")
}

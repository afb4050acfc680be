// Package money holds the rules every amount follows: which currencies a deal
// may be priced in, how many decimals each allows (its ISO 4217 minor unit),
// and the one rounding rule. Amounts are exact decimals everywhere; a
// float64 appears only in search attributes, for filtering.
package money

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// minorUnits is ISO 4217's number of decimals of each currency a deal may be
// priced in.
var minorUnits = map[string]int32{
	"AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
	"GBP": 2, "HKD": 2, "INR": 2, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "NOK": 2, "NZD": 2,
	"PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2,
}

// Currencies lists the ISO 4217 codes a deal may be priced in, sorted.
var Currencies = func() []string {
	out := make([]string, 0, len(minorUnits))
	for c := range minorUnits {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}()

// Known reports whether a deal may be priced in cur.
func Known(cur string) bool {
	_, ok := minorUnits[cur]
	return ok
}

// Places is the number of decimals cur's amounts carry (2 for an unknown
// code, which validation refuses before any amount is computed).
func Places(cur string) int32 {
	if p, ok := minorUnits[cur]; ok {
		return p
	}
	return 2
}

// Round rounds an amount to cur's minor unit, half away from zero
// ("commercial rounding": 0.125 EUR → 0.13, -0.125 → -0.13). It is the one
// rounding rule for money.
func Round(v decimal.Decimal, cur string) decimal.Decimal {
	return v.Round(Places(cur))
}

// Format writes an amount with exactly cur's decimals ("42.48", "4248" for
// JPY).
func Format(v decimal.Decimal, cur string) string {
	return v.StringFixed(Places(cur))
}

// Decimals is the number of decimals v needs: trailing zeros do not count
// ("1.00000" needs 0).
func Decimals(v decimal.Decimal) int32 {
	for places := int32(0); ; places++ {
		if v.Equal(v.Truncate(places)) {
			return places
		}
	}
}

// CheckAmount says what is wrong with v as an amount in cur: more decimals
// than the currency has. "" when nothing is.
func CheckAmount(v decimal.Decimal, cur string) string {
	if p := Places(cur); Decimals(v) > p {
		if p == 0 {
			return fmt.Sprintf("has decimals, and %s amounts have none", cur)
		}
		return fmt.Sprintf("has more than %d decimal places, the most %s allows", p, cur)
	}
	return ""
}

// QuantityPlaces is how many decimals a quantity may carry (as Dynamics 365).
const QuantityPlaces = 5

// PercentPlaces is how many decimals a percentage (discount, tax rate) may carry.
const PercentPlaces = 2

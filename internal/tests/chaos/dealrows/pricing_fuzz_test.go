package dealrows

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"dealflow/internal/money"
	"dealflow/workflows"
)

// fuzzInput reads the numbers of a fuzz case from its bytes; past the end
// it reads zeros.
type fuzzInput []byte

func (in *fuzzInput) next(n int) uint64 {
	var b [8]byte
	k := copy(b[:n], *in)
	*in = (*in)[k:]
	return binary.LittleEndian.Uint64(b[:])
}

func (in *fuzzInput) u8() uint64  { return in.next(1) }
func (in *fuzzInput) u32() uint64 { return in.next(4) }

func pow10(n int32) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// percent is 0 to 100 with two decimals.
func (in *fuzzInput) percent() *decimal.Decimal {
	v := decimal.New(int64(in.next(2)%10001), -money.PercentPlaces)
	return &v
}

// FuzzPricing prices random lines and charges, as the commands allow them
// (quantities up to 5 decimals, amounts in the currency's decimals,
// percentages 0 to 100 with 2, discounts no more than what they discount),
// with workflows.Price and the deal's rounding, and checks the rules Price
// documents: every amount rounded to the currency, each computed as said,
// the total the summary's sum, and pricing the result again changes nothing.
func FuzzPricing(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{0, 0x4c, 0x08, 0, 0, 3, 0xcf, 0x07, 0, 0}) // 2.125 × 19.99 in USD
	f.Add(uint8(2), []byte{3, 1, 0, 0, 0, 5, 9, 0, 0, 0, 2, 0x10, 0x27, 2, 0x2c, 0x01, 1, 7, 0, 0, 0, 1, 3, 0, 0, 0})
	f.Add(uint8(3), []byte{1, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0xff, 1, 1, 0, 0, 0, 2, 0x88, 0x13, 2, 0xe8, 0x03, 1, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, curIndex uint8, data []byte) {
		cur := moneyCurrencies[int(curIndex)%len(moneyCurrencies)]
		places := money.Places(cur)
		round := func(v decimal.Decimal) decimal.Decimal { return money.Round(v, cur) }
		in := fuzzInput(data)
		lines := make([]workflows.Line, 1+in.u8()%5)
		for i := range lines {
			l := &lines[i]
			// Up to 10^7 × 10^6: sums stay far below the commands' bound of 10^13.
			l.Quantity = decimal.New(int64(1+in.u32()%1e7), -int32(in.u8()%(money.QuantityPlaces+1)))
			l.UnitPrice = decimal.New(int64(in.u32())%(1e6*int64(pow10(places))), -places)
			switch in.u8() % 3 {
			case 1: // an amount, no more than quantity × unit price, exact or rounded
				exact := l.Quantity.Mul(l.UnitPrice)
				limit := decimal.Min(exact, round(exact)).Shift(places).Floor().IntPart()
				l.Discount = decimal.New(int64(in.u32())%(limit+1), -places)
			case 2:
				l.DiscountPercent = in.percent()
			}
			switch in.u8() % 3 {
			case 1:
				l.Tax = decimal.New(int64(in.u32()), -places)
			case 2:
				l.TaxPercent = in.percent()
			}
		}
		var s workflows.QuoteSummary
		priced, _ := workflows.Price(lines, s, round)
		switch in.u8() % 3 {
		case 1:
			s.Discount = decimal.New(int64(in.u32())%(priced.DetailAmount.Shift(places).IntPart()+1), -places)
		case 2:
			s.DiscountPercent = in.percent()
		}
		s.Freight = decimal.New(int64(in.u32()), -places)
		inputs := append([]workflows.Line(nil), lines...)
		s, total := workflows.Price(lines, s, round)

		rounded := func(what string, v decimal.Decimal) {
			t.Helper()
			if money.Decimals(v) > places || v.IsNegative() {
				t.Fatalf("%s %s: negative or more decimals than %s has (%d)", what, v, cur, places)
			}
		}
		detail, tax := decimal.Zero, decimal.Zero
		for i, l := range lines {
			for name, v := range map[string]decimal.Decimal{"amount": l.Amount, "discount": l.Discount, "tax": l.Tax, "extended amount": l.ExtendedAmount} {
				rounded(name, v)
			}
			if exact := l.Quantity.Mul(l.UnitPrice); !l.Amount.Equal(round(exact)) {
				t.Fatalf("line %d: amount %s of %s × %s", i, l.Amount, l.Quantity, l.UnitPrice)
			}
			if p := l.DiscountPercent; p != nil && !l.Discount.Equal(round(l.Amount.Mul(*p).Div(decimal.New(100, 0)))) {
				t.Fatalf("line %d: discount %s is not %s %% of %s", i, l.Discount, p, l.Amount)
			}
			if p := l.DiscountPercent; p == nil && !l.Discount.Equal(inputs[i].Discount) {
				t.Fatalf("line %d: discount %s, given %s", i, l.Discount, inputs[i].Discount)
			}
			if p := l.TaxPercent; p != nil && !l.Tax.Equal(round(l.Amount.Sub(l.Discount).Mul(*p).Div(decimal.New(100, 0)))) {
				t.Fatalf("line %d: tax %s is not %s %% of %s - %s", i, l.Tax, p, l.Amount, l.Discount)
			}
			if l.Discount.GreaterThan(l.Amount) {
				t.Fatalf("line %d: discount %s over its amount %s", i, l.Discount, l.Amount)
			}
			if !l.ExtendedAmount.Equal(l.Amount.Sub(l.Discount).Add(l.Tax)) {
				t.Fatalf("line %d: extended amount %s of %s - %s + %s", i, l.ExtendedAmount, l.Amount, l.Discount, l.Tax)
			}
			detail, tax = detail.Add(l.Amount.Sub(l.Discount)), tax.Add(l.Tax)
		}
		for name, v := range map[string]decimal.Decimal{"detail amount": s.DetailAmount, "discount": s.Discount,
			"pre-freight amount": s.PreFreightAmount, "freight": s.Freight, "total tax": s.TotalTax, "total": total} {
			rounded(name, v)
		}
		switch {
		case !s.DetailAmount.Equal(detail) || !s.TotalTax.Equal(tax):
			t.Fatalf("detail %s, total tax %s; the lines sum to %s and %s", s.DetailAmount, s.TotalTax, detail, tax)
		case s.DiscountPercent != nil && !s.Discount.Equal(round(detail.Mul(*s.DiscountPercent).Div(decimal.New(100, 0)))):
			t.Fatalf("quote discount %s is not %s %% of %s", s.Discount, s.DiscountPercent, detail)
		case s.Discount.GreaterThan(s.DetailAmount):
			t.Fatalf("quote discount %s over the detail amount %s", s.Discount, s.DetailAmount)
		case !s.PreFreightAmount.Equal(s.DetailAmount.Sub(s.Discount)):
			t.Fatalf("pre-freight %s of %s - %s", s.PreFreightAmount, s.DetailAmount, s.Discount)
		case !total.Equal(s.PreFreightAmount.Add(s.Freight).Add(s.TotalTax)):
			t.Fatalf("total %s of %s + %s + %s", total, s.PreFreightAmount, s.Freight, s.TotalTax)
		}
		again := append([]workflows.Line(nil), lines...)
		s2, total2 := workflows.Price(again, s, round)
		if fmt.Sprint(s2) != fmt.Sprint(s) || !total2.Equal(total) {
			t.Fatalf("priced again: %+v %s, first %+v %s", s2, total2, s, total)
		}
		for i := range again {
			if fmt.Sprint(again[i]) != fmt.Sprint(lines[i]) {
				t.Fatalf("line %d priced again: %+v, first %+v", i, again[i], lines[i])
			}
		}
	})
}

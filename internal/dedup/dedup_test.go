package dedup

import "testing"

func TestCompany(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Contoso", "contoso"},
		{"  CONTOSO  ", "contoso"},
		{"Contoso, Ltd.", "contoso"},
		{"Contoso Limited", "contoso"},
		{"Contoso Inc", "contoso"},
		{"Contoso, Inc.", "contoso"},
		{"Contoso Incorporated", "contoso"},
		{"Contoso Corp.", "contoso"},
		{"Contoso Corporation", "contoso"},
		{"Contoso Co.", "contoso"},
		{"Contoso Company", "contoso"},
		{"Contoso & Co.", "contoso"},
		{"Contoso Co., Ltd.", "contoso"},
		{"Contoso LLC", "contoso"},
		{"Contoso L.L.C.", "contoso"},
		{"Contoso GmbH", "contoso"},
		{"Contoso AG", "contoso"},
		{"Contoso S.A.", "contoso"},
		{"Contoso SAS", "contoso"},
		{"Contoso SARL", "contoso"},
		{"Contoso B.V.", "contoso"},
		{"Contoso N.V.", "contoso"},
		{"Contoso PLC", "contoso"},
		{"Contoso Pty Ltd", "contoso"},
		{"Contoso Pty. Ltd.", "contoso"},
		{"Contoso K.K.", "contoso"},
		{"Contoso AB", "contoso"},
		{"Contoso Oy", "contoso"},
		{"Contoso S.p.A.", "contoso"},
		{"Contoso Srl", "contoso"},
		{"Contoso-Pharma", "contosopharma"},
		{"Contoso  Pharma", "contosopharma"},
		{"Contoso Pharma GmbH", "contosopharma"},
		{"AT&T", "atandt"},
		{"AT and T Inc", "atandt"},
		{"O'Neil Consulting", "oneilconsulting"},
		{"Société Générale SA", "sociétégénérale"},
		// A legal form in the middle stays; one that is the whole name too.
		{"Inc Magazine", "incmagazine"},
		{"Corp Solutions Inc", "corpsolutions"},
		{"AB", "ab"},
		{"The Company", "the"},
		{"", ""},
		{" .,- ", ""},
		// Names that differ stay apart.
		{"Contoso Pharma", "contosopharma"},
		{"Fabrikam", "fabrikam"},
	}
	for _, tc := range cases {
		if got := Company(tc.in); got != tc.want {
			t.Errorf("Company(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPhone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"+1 (555) 123-4567", "551234567"},
		{"555.123.4567", "551234567"},
		{"1-555-123-4567 x12", "551234567"},
		{"+49 30 1234567", "301234567"},
		{"0049 30 1234567", "301234567"},
		{"030/1234567", "301234567"},
		{"+44 20 7946 0958", "079460958"},
		{"020 7946 0958", "079460958"},
		{"1234567", "1234567"},
		{"123456", ""},
		{"x1234567", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Phone(tc.in); got != tc.want {
			t.Errorf("Phone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEmail(t *testing.T) {
	if got := Email("  Ada.Park@Example.COM "); got != "ada.park@example.com" {
		t.Fatalf("Email = %q", got)
	}
	k := KeysOf("", "12", " - ")
	if !k.Empty() {
		t.Fatalf("keys of nothing: %+v", k)
	}
}

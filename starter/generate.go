package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"dealflow/workflows"
)

// runGenerate writes a CSV of made-up leads, for load tests of the import
// (the README's throughput figure is measured with it).
func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("starter generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 10000, "number of leads")
	seed := fs.Uint64("seed", 1, "random seed: the same seed writes the same file (and so the same lead ids)")
	out := fs.String("o", "-", "output file; - is standard output")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: starter generate [flags]\n\nWrites a CSV of made-up leads (every row valid) for load tests of starter import.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *n < 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "starter generate: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	if err := generate(w, *n, *seed); err != nil {
		fmt.Fprintf(stderr, "starter generate: %v\n", err)
		return 1
	}
	return 0
}

var (
	genFirst    = strings.Fields("Amara Bastian Camila Darius Elif Felix Grace Hamza Isabel Jonas Keiko Liam Mei Nikolai Olivia Pablo Quinn Rania Sven Tamsin Umar Valeria Wen Yusuf Zoe")
	genLast     = strings.Fields("Okafor Richter Restrepo Farahani Yilmaz Brandt Whitfield Qureshi Navarro Lindgren Watanabe Zhang Petrov Hughes Ortega Sullivan Haddad Eriksen Price Castillo Liu Demir Clarke Rao Nilsson")
	genCompany  = strings.Fields("Northwind Contoso Fabrikam Tailspin Litware Proseware Woodgrove Relecloud Southridge VanArsdel Wingtip Lamna Humongous Fourth Coho Alpine Trey Nod Margie Bellows")
	genSuffix   = []string{"Traders", "Logistics", "Pharma", "Systems", "Analytics", "Bank", "Freight", "Foods", "Labs", "Group"}
	genProducts = []string{"Standing desks", "Laptops", "Handheld scanners", "Meeting room displays", "Ergonomic chairs", "Cold-chain sensors", "Wi-Fi access points", "Label printers", "Coffee machines", "Signage screens"}
)

func generate(w io.Writer, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	if err := cw.Write([]string{"Topic", "First Name", "Last Name", "Company", "Email", "Phone", "Source", "Rating", "Budget", "Estimated Value", "Purchase Timeframe", "Decision Maker Identified"}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	for i := range n {
		first, last := pick(genFirst), pick(genLast)
		company := pick(genCompany) + " " + pick(genSuffix)
		qty := 5 + r.IntN(200)
		value := qty * (100 + r.IntN(900))
		dom := strings.ToLower(strings.ReplaceAll(company, " ", "-"))
		rec := []string{
			fmt.Sprintf("%s, %d units (#%d)", pick(genProducts), qty, i+1),
			first, last, company,
			fmt.Sprintf("%s.%s.%d@%s.example.com", strings.ToLower(first), strings.ToLower(last), i+1, dom),
			fmt.Sprintf("+1 555 %03d %04d", r.IntN(1000), r.IntN(10000)),
			pick(workflows.LeadSources), pick(workflows.Ratings),
			strconv.Itoa(value+r.IntN(value/5+1)) + ".00", strconv.Itoa(value) + ".00",
			pick(workflows.PurchaseTimeframes), pick([]string{"yes", "no"}),
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

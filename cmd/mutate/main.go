// Command mutate checks that the tests of a package would notice its rules
// breaking: it deletes or flips one condition at a time in the given files
// (an if's condition forced to false or true, one operand of && or || dropped,
// a comparison's boundary moved) and runs the package's tests against each
// such mutant. A mutant the tests still pass on is a survivor: a rule that no
// test pins. The source tree is never written: each mutant is handed to the
// go command through -overlay.
//
//	go run ./cmd/mutate -pkg ./workflows -files machine.go,actions.go,followups.go
//
// A mutant no test can kill because no reachable state tells it apart from
// the original (an equivalent mutant) is declared where it lives, with a
// note (see equivalence). Such mutants are listed with the reason, never
// hidden; the invariant a reason relies on belongs in a test.
//
// Each mutant is first judged by the package's tests with -short (the fast
// ones), and only a mutant that survives them by the whole suite: a mutant
// that makes a workflow test spin until the timeout then costs that only
// when no fast test catches it.
//
// It prints every survivor and a summary, and exits 1 when any survived.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// mutant is one change to one file.
type mutant struct {
	file       string // absolute path
	line       int
	equivalent string // why the mutant cannot change behaviour, if declared
	src        []byte // the file as it was read: later edits do not shift the offsets
	start, end int    // byte offsets of the replaced text
	repl       string // what replaces it
	desc       string
}

func main() {
	pkg := flag.String("pkg", "./workflows", "package whose tests judge the mutants")
	files := flag.String("files", "", "comma-separated file names in the package to mutate (default: every non-test .go file)")
	run := flag.String("run", "", "passed to go test -run (default: every test)")
	timeout := flag.Duration("timeout", 2*time.Minute, "a mutant whose tests run longer is counted as caught (a hang)")
	only := flag.String("only", "", "regexp: mutate only lines whose text matches")
	list := flag.Bool("list", false, "list the mutants without running them")
	jobs := flag.Int("j", 2, "mutants tested at once")
	flag.Parse()

	dir, err := filepath.Abs(*pkg)
	if err != nil {
		fail(err)
	}
	names, err := targetFiles(dir, *files)
	if err != nil {
		fail(err)
	}
	var filter *regexp.Regexp
	if *only != "" {
		filter = regexp.MustCompile(*only)
	}
	var all, equivalent []mutant
	for _, name := range names {
		ms, err := mutants(filepath.Join(dir, name), filter)
		if err != nil {
			fail(err)
		}
		for _, m := range ms {
			if m.equivalent != "" {
				equivalent = append(equivalent, m)
			} else {
				all = append(all, m)
			}
		}
	}
	for _, m := range equivalent {
		fmt.Printf("equivalent %s:%d: %s (%s)\n", filepath.Base(m.file), m.line, m.desc, m.equivalent)
	}
	if *list {
		for _, m := range all {
			fmt.Printf("%s:%d: %s\n", filepath.Base(m.file), m.line, m.desc)
		}
		fmt.Printf("%d mutants\n", len(all))
		return
	}
	tmp, err := os.MkdirTemp("", "mutate")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)

	// The unmutated package must pass, or every mutant would look caught.
	if out, err := goTest(*pkg, *run, "", false, *timeout); err != nil {
		fail(fmt.Errorf("the tests fail without any mutation:\n%s", out))
	}
	survivors, caught, invalid := judgeAll(all, tmp, *pkg, *run, *jobs, *timeout)
	fmt.Printf("mutants: %d, caught: %d, survived: %d, not compilable: %d, declared equivalent: %d\n", len(all), caught, len(survivors), invalid, len(equivalent))
	if len(survivors) > 0 {
		os.Exit(1)
	}
}

// judgeAll judges every mutant, jobs at a time, printing survivors as found.
func judgeAll(all []mutant, tmp, pkg, run string, jobs int, timeout time.Duration) (survivors []mutant, caught, invalid int) {
	verdicts := make([]verdict, len(all))
	next := make(chan int)
	done := make(chan int)
	for w := 0; w < max(1, jobs); w++ {
		go func() {
			for i := range next {
				verdicts[i] = judge(tmp, i, all[i], pkg, run, timeout)
				done <- i
			}
		}()
	}
	go func() {
		for i := range all {
			next <- i
		}
		close(next)
	}()
	for n := 1; n <= len(all); n++ {
		i := <-done
		switch verdicts[i] {
		case survived:
			survivors = append(survivors, all[i])
			fmt.Printf("SURVIVED %s:%d: %s\n", filepath.Base(all[i].file), all[i].line, all[i].desc)
		case notCompilable:
			invalid++
		default:
			caught++
		}
		if n%20 == 0 {
			fmt.Fprintf(os.Stderr, "mutate: %d/%d run, %d survived\n", n, len(all), len(survivors))
		}
	}
	return survivors, caught, invalid
}

type verdict int

const (
	caughtBy verdict = iota
	survived
	notCompilable // not Go any more (e.g. a type that needs the operand)
)

// judge runs the package's tests against one mutant.
func judge(tmp string, i int, m mutant, pkg, run string, timeout time.Duration) verdict {
	overlay, err := writeOverlay(tmp, i, m)
	if err != nil {
		fail(err)
	}
	out, err := goTest(pkg, run, overlay, true, timeout)
	if err == nil {
		out, err = goTest(pkg, run, overlay, false, timeout)
	}
	switch {
	case err == nil:
		return survived
	case strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]"):
		return notCompilable
	}
	return caughtBy
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}

func targetFiles(dir, list string) ([]string, error) {
	if list != "" {
		return strings.Split(list, ","), nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			out = append(out, n)
		}
	}
	return out, nil
}

// mutants lists the mutations of one file: for each if, its condition forced
// false (the guarded rule deleted) and true (always applied); for each && and
// ||, each operand dropped; for each ordering comparison, its boundary moved.
func mutants(path string, filter *regexp.Regexp) ([]mutant, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(src), "\n")
	var out []mutant
	add := func(n ast.Node, start, end token.Pos, repl, desc string) {
		line := fset.Position(n.Pos()).Line
		if filter != nil && !filter.MatchString(lines[line-1]) {
			return
		}
		out = append(out, mutant{file: path, src: src, line: line, equivalent: equivalence(lines, line, desc),
			start: fset.Position(start).Offset, end: fset.Position(end).Offset, repl: repl, desc: desc})
	}
	text := func(n ast.Node) string {
		return string(src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IfStmt:
			c := text(x.Cond)
			add(x.Cond, x.Cond.Pos(), x.Cond.End(), "false", fmt.Sprintf("if %s → if false", short(c)))
			add(x.Cond, x.Cond.Pos(), x.Cond.End(), "true", fmt.Sprintf("if %s → if true", short(c)))
		case *ast.BinaryExpr:
			switch x.Op {
			case token.LAND, token.LOR:
				l, r := text(x.X), text(x.Y)
				add(x, x.Pos(), x.End(), "("+l+")", fmt.Sprintf("%s %s %s → drop %s", short(l), x.Op, short(r), short(r)))
				add(x, x.Pos(), x.End(), "("+r+")", fmt.Sprintf("%s %s %s → drop %s", short(l), x.Op, short(r), short(l)))
			case token.LSS, token.LEQ, token.GTR, token.GEQ:
				moved := map[token.Token]token.Token{token.LSS: token.LEQ, token.LEQ: token.LSS, token.GTR: token.GEQ, token.GEQ: token.GTR}[x.Op]
				add(x, x.OpPos, x.OpPos+token.Pos(len(x.Op.String())), moved.String(),
					fmt.Sprintf("%s → %s %s %s", short(text(x)), short(text(x.X)), moved, short(text(x.Y))))
			}
		}
		return true
	})
	return out, nil
}

// equivalence is the reason declared for a mutant being equivalent, "" when
// none is: a note `mutate:equivalent <why>` covers every mutant of its line,
// `mutate:equivalent "end" <why>` those whose description ends so. Notes
// sit at the end of the line or in the comment lines right above it.
func equivalence(lines []string, line int, desc string) string {
	notes := []string{lines[line-1]}
	for l := line - 2; l >= 0 && strings.HasPrefix(strings.TrimSpace(lines[l]), "//"); l-- {
		notes = append(notes, lines[l])
	}
	const mark = "mutate:equivalent "
	for _, n := range notes {
		i := strings.Index(n, mark)
		if i < 0 {
			continue
		}
		note := strings.TrimSpace(n[i+len(mark):])
		if strings.HasPrefix(note, `"`) {
			end := strings.Index(note[1:], `"`)
			if end < 0 || !strings.HasSuffix(desc, note[1:end+1]) {
				continue
			}
			note = strings.TrimSpace(note[end+2:])
		}
		return note
	}
	return ""
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

// writeOverlay writes the mutant's file and the overlay that swaps it in.
func writeOverlay(tmp string, i int, m mutant) (string, error) {
	mutated := string(m.src[:m.start]) + m.repl + string(m.src[m.end:])
	file := filepath.Join(tmp, fmt.Sprintf("m%d_%s", i, filepath.Base(m.file)))
	if err := os.WriteFile(file, []byte(mutated), 0o644); err != nil {
		return "", err
	}
	b, err := json.Marshal(map[string]map[string]string{"Replace": {m.file: file}})
	if err != nil {
		return "", err
	}
	overlay := filepath.Join(tmp, fmt.Sprintf("m%d.json", i))
	return overlay, os.WriteFile(overlay, b, 0o644)
}

// goTest runs the package's tests (only the fast ones when short), stopping
// at the first failure.
func goTest(pkg, run, overlay string, short bool, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"test", "-count=1", "-failfast", "-vet=off", "-timeout", timeout.String()}
	if short {
		args = append(args, "-short")
	}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	if run != "" {
		args = append(args, "-run", run)
	}
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return string(out), fmt.Errorf("timed out after %s", timeout)
	}
	return string(out), err
}

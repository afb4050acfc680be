package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"dealflow/internal/leadimport"
)

// progress reports an import's progress on stderr: a bar redrawn in place on
// a terminal, a plain line every so often otherwise (a log, a CI job).
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts reporting; mode is auto, bar, lines or none. size is
// the input's size in bytes (0 when unknown: no percentage or ETA).
func startProgress(w io.Writer, mode string, every time.Duration, st *leadimport.Stats, size int64, start time.Time) *progress {
	p := &progress{done: make(chan struct{})}
	f, isFile := w.(*os.File)
	if mode == "auto" {
		mode = "lines"
		if isFile && isTerminal(f) {
			mode = "bar"
		}
	}
	if mode == "none" {
		return p
	}
	width := 0
	if isFile {
		width = termWidth(f)
	}
	if width <= 0 {
		width = 80
	}
	interval := every
	if mode == "bar" {
		interval = 200 * time.Millisecond
	}
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				if mode == "bar" {
					fmt.Fprintf(w, "\r%s\x1b[K\n", bar(snap(st, size, start), width))
				}
				return
			case <-t.C:
				s := snap(st, size, start)
				if mode == "bar" {
					fmt.Fprintf(w, "\r%s\x1b[K", bar(s, width))
				} else {
					fmt.Fprintln(w, line(s))
				}
			}
		}
	})
	return p
}

// stop draws the bar a last time and ends the reporting.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

// snapshot is the progress at one moment.
type snapshot struct {
	done, new, present, rejected int64
	rate                         float64 // rows per second since the start
	frac                         float64 // of the input's bytes done; -1 when unknown
	eta                          time.Duration
}

func snap(st *leadimport.Stats, size int64, start time.Time) snapshot {
	el := time.Since(start)
	s := snapshot{done: st.Done(), new: st.New.Load(), present: st.Present.Load(), rejected: st.Rejected.Load(), frac: -1}
	s.rate = float64(s.done) / max(el.Seconds(), 1e-3)
	if off := st.Offset.Load(); size > 0 && off > 0 {
		s.frac = min(float64(off)/float64(size), 1)
		s.eta = time.Duration(float64(el) * (1 - s.frac) / s.frac)
	}
	return s
}

// bar renders: [=====>     ]  45%  4512 rows  231/s  ETA 0:24  new 4500  present 10  rejected 2
func bar(s snapshot, width int) string {
	stats := fmt.Sprintf("  %d rows  %.0f/s", s.done, s.rate)
	if s.frac >= 0 {
		stats = fmt.Sprintf(" %3.0f%%", 100*s.frac) + stats + "  ETA " + clock(s.eta)
	}
	stats += fmt.Sprintf("  new %d  present %d  rejected %d", s.new, s.present, s.rejected)
	n := width - len(stats) - 3
	if n < 10 || s.frac < 0 {
		return strings.TrimLeft(stats, " ")
	}
	fill := int(s.frac * float64(n))
	b := strings.Repeat("=", fill)
	if fill < n {
		b += ">" + strings.Repeat(" ", n-fill-1)
	}
	return "[" + b + "]" + stats
}

// line renders a plain progress line.
func line(s snapshot) string {
	out := fmt.Sprintf("import: %d rows", s.done)
	if s.frac >= 0 {
		out += fmt.Sprintf(" (%.0f%%)", 100*s.frac)
	}
	out += fmt.Sprintf(", %.0f rows/s", s.rate)
	if s.frac >= 0 {
		out += ", ETA " + clock(s.eta)
	}
	return out + fmt.Sprintf(": %d new, %d already present, %d rejected", s.new, s.present, s.rejected)
}

// clock formats a duration as m:ss (or h:mm:ss).
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

package leadimport

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"dealflow/internal/deals"
	"dealflow/internal/dedup"
	"dealflow/workflows"
)

// Stats counts an import's rows as they are done. Every row read ends up in
// exactly one of New, Present or Rejected.
type Stats struct {
	// New deals started by this run.
	New atomic.Int64
	// Present: the deal existed already (an earlier run, or the same row
	// earlier in this file: see Duplicates).
	Present atomic.Int64
	// Rejected rows, each written to the rejects file with its reason.
	Rejected atomic.Int64
	// Duplicates are the rows of Present that repeat an earlier row of the
	// same file.
	Duplicates atomic.Int64
	// Offset is the input's byte offset up to which every row is done,
	// roughly (rows finish out of order), for progress and ETA.
	Offset atomic.Int64
}

// Done is the number of rows finished.
func (s *Stats) Done() int64 { return s.New.Load() + s.Present.Load() + s.Rejected.Load() }

// Config configures Run.
type Config struct {
	// Temporal starts the deals (a client.Client).
	Temporal deals.Starter
	// Concurrency is how many starts are in flight at once; default 16.
	Concurrency int
	// Rejects receives every rejected row; nil discards them.
	Rejects *RejectWriter
	// Stats, when set, is updated as rows finish (to show progress).
	Stats *Stats
	// Duplicates, when set, finds the records on file a row's lead may
	// duplicate (starter import passes the store): such a row is rejected,
	// with the matches as its reason. Without it only the rows of the file
	// are compared with one another.
	Duplicates DuplicateFinder
	// AllowDuplicates compares nothing and creates every lead with
	// AllowDuplicate (recorded on its timeline).
	AllowDuplicates bool
	// Metrics, when set, counts the rows as they are done (metrics.go).
	Metrics client.MetricsHandler
}

// DuplicateFinder finds the records on file (leads, contacts, accounts) a
// new lead may duplicate: the same email, phone or company, folded by
// internal/dedup. The lead's own id is no duplicate of it (a rerun).
type DuplicateFinder interface {
	// FindDuplicates describes each record in may duplicate; none when it
	// may not.
	FindDuplicates(ctx context.Context, in workflows.NewLead) ([]string, error)
}

// Run starts a deal for every row of src that passes the validation and
// rejects the others. A row whose deal exists already counts as present. Run
// stops at the first error that is not about one row (Temporal unreachable,
// the input unreadable, the rejects file unwritable), after the starts in
// flight finish; running it again resumes, since started rows are then
// present.
func Run(ctx context.Context, src Source, cfg Config) (*Stats, error) {
	im := &importer{cfg: cfg, st: cfg.Stats}
	if im.st == nil {
		im.st = new(Stats)
	}
	n := cfg.Concurrency
	if n <= 0 {
		n = 16
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	im.cancel = cancel

	jobs := make(chan Row, 2*n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { im.start(ctx, jobs) })
	}
	readErr := im.read(ctx, src, jobs)
	close(jobs)
	wg.Wait()
	if cfg.Rejects != nil {
		if err := cfg.Rejects.Flush(); err != nil {
			return im.st, err
		}
	}
	if readErr != nil {
		return im.st, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return im.st, fmt.Errorf("import stopped: %w", err)
	}
	return im.st, nil
}

// importer is one run of Run: its counters, and the cancel that stops it
// on the first error that is not a row's own.
type importer struct {
	cfg     Config
	st      *Stats
	cancel  context.CancelCauseFunc
	offsets offsetTracker
}

// reject writes a refused row to the rejects file and counts it.
func (im *importer) reject(r Row, reason string) {
	if im.cfg.Rejects != nil {
		if err := im.cfg.Rejects.Write(r, reason); err != nil {
			im.cancel(err)
		}
	}
	im.st.Rejected.Add(1)
	im.count(MetricRowsRejected, "")
}

// start starts the deals of the rows sent on jobs.
func (im *importer) start(ctx context.Context, jobs <-chan Row) {
	for r := range jobs {
		if reason, err := im.duplicates(ctx, &r); err != nil || reason != "" {
			if err != nil {
				if ctx.Err() == nil {
					im.cancel(fmt.Errorf("line %d (lead %s): check for possible duplicates: %w", r.Line, r.Lead.ID, err))
				}
				continue // the row stays undone; a rerun picks it up
			}
			im.reject(r, reason)
			im.st.Offset.Store(im.offsets.done(r.Offset))
			continue
		}
		created, err := deals.Start(ctx, im.cfg.Temporal, r.Lead)
		var inv *deals.InvalidLeadError
		var arg *serviceerror.InvalidArgument
		switch {
		case err == nil && created:
			im.st.New.Add(1)
			im.count(MetricRowsAccepted, ResultStarted)
		case err == nil:
			im.st.Present.Add(1)
			im.count(MetricRowsAccepted, ResultExisting)
		case errors.As(err, &inv):
			im.reject(r, inv.Error()) // validated while reading; kept for safety
		case errors.As(err, &arg):
			im.reject(r, "Temporal refused the start: "+arg.Message)
		default:
			if ctx.Err() == nil {
				im.cancel(fmt.Errorf("line %d (lead %s): %w", r.Line, r.Lead.ID, err))
			}
			continue // the row stays undone; a rerun picks it up
		}
		im.st.Offset.Store(im.offsets.done(r.Offset))
	}
}

// duplicates returns why r may duplicate records on file, "" when it may
// not (or AllowDuplicates, which marks its lead).
func (im *importer) duplicates(ctx context.Context, r *Row) (string, error) {
	if im.cfg.AllowDuplicates {
		r.Lead.AllowDuplicate = true
		return "", nil
	}
	if im.cfg.Duplicates == nil || linksRecords(r.Lead) {
		return "", nil
	}
	ms, err := im.cfg.Duplicates.FindDuplicates(ctx, r.Lead)
	if err != nil || len(ms) == 0 {
		return "", err
	}
	return "possible duplicate of " + strings.Join(ms, "; ") + " (-allow-duplicates imports it)", nil
}

// linksRecords reports a lead that names an account or contact on file: it
// links them rather than creating any, so it duplicates nothing.
func linksRecords(in workflows.NewLead) bool {
	return in.Lead.ExistingAccountID != "" || in.Lead.ExistingContactID != ""
}

// fileKeys remembers the duplicate-detection keys of the rows read so far,
// so that a row that may duplicate an earlier row of the same file is
// rejected, as one that may duplicate a record on file is.
type fileKeys map[string]keyedRow

type keyedRow struct {
	line int
	id   string
}

// check returns why r may duplicate an earlier row ("" when it may not),
// and remembers r's keys when it may not.
func (fk fileKeys) check(r Row) string {
	k := dedup.KeysOf(r.Lead.Lead.Email, r.Lead.Lead.Phone, r.Lead.Lead.Company)
	keys := []struct{ what, key string }{{"email", k.Email}, {"phone", k.Phone}, {"company", k.Company}}
	var lines []int
	on := map[int][]string{}
	for _, x := range keys {
		if x.key == "" {
			continue
		}
		if f, ok := fk[x.what+"\x00"+x.key]; ok && f.id != r.Lead.ID {
			if on[f.line] == nil {
				lines = append(lines, f.line)
			}
			on[f.line] = append(on[f.line], x.what)
		}
	}
	if len(lines) == 0 {
		for _, x := range keys {
			if _, ok := fk[x.what+"\x00"+x.key]; x.key != "" && !ok {
				fk[x.what+"\x00"+x.key] = keyedRow{r.Line, r.Lead.ID}
			}
		}
		return ""
	}
	slices.Sort(lines)
	var parts []string
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("line %d (%s)", l, strings.Join(on[l], ", ")))
	}
	return "possible duplicate of " + strings.Join(parts, "; ") + " of this file (-allow-duplicates imports it)"
}

// read sends the source's rows to jobs, settling refused and repeated rows
// itself, until the source ends or the run is stopped.
func (im *importer) read(ctx context.Context, src Source, jobs chan<- Row) error {
	// seen maps each lead id of this file to its first line and content, so
	// a repeated row is not sent twice, and one id with two contents is
	// refused rather than silently merged.
	type first struct {
		line int
		key  string
	}
	seen := map[string]first{}
	keys := fileKeys{}
	for ctx.Err() == nil {
		r, err := src.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		im.offsets.read(r.Offset)
		if r.Reject != "" {
			im.reject(r, r.Reject)
			im.st.Offset.Store(im.offsets.done(r.Offset))
			continue
		}
		if f, ok := seen[r.Lead.ID]; ok {
			if f.key == r.key {
				im.st.Present.Add(1)
				im.st.Duplicates.Add(1)
				im.count(MetricRowsAccepted, ResultExisting)
			} else {
				im.reject(r, fmt.Sprintf("id %s is also on line %d, with other content", r.Lead.ID, f.line))
			}
			im.st.Offset.Store(im.offsets.done(r.Offset))
			continue
		}
		seen[r.Lead.ID] = first{r.Line, r.key}
		if !im.cfg.AllowDuplicates && !linksRecords(r.Lead) {
			if reason := keys.check(r); reason != "" {
				im.reject(r, reason)
				im.st.Offset.Store(im.offsets.done(r.Offset))
				continue
			}
		}
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
	}
	return nil
}

// offsetTracker follows the byte offsets of rows read and finished, so that
// progress reports the offset below which every row is done.
type offsetTracker struct {
	mu      sync.Mutex
	pending map[int64]int // offsets read, not yet done (with multiplicity)
	maxRead int64
}

func (t *offsetTracker) read(off int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[int64]int{}
	}
	t.pending[off]++
	t.maxRead = max(t.maxRead, off)
}

// done marks a row finished and returns the offset up to which every row
// read so far is done.
func (t *offsetTracker) done(off int64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[off]--; t.pending[off] <= 0 {
		delete(t.pending, off)
	}
	low := t.maxRead
	for o := range t.pending {
		low = min(low, o)
	}
	return low
}

// RejectWriter writes rejected rows as CSV: the physical line the row starts
// on, the reason, then the row's own fields under the input's header.
type RejectWriter struct {
	mu     sync.Mutex
	w      *csv.Writer
	header []string
	wrote  bool
	n      int
}

// NewRejectWriter writes to w; header names the input's columns.
func NewRejectWriter(w io.Writer, header []string) *RejectWriter {
	return &RejectWriter{w: csv.NewWriter(w), header: header}
}

// Write records one rejected row.
func (rw *RejectWriter) Write(r Row, reason string) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if !rw.wrote {
		rw.wrote = true
		if err := rw.w.Write(append([]string{"line", "reason"}, rw.header...)); err != nil {
			return fmt.Errorf("write rejects file: %w", err)
		}
	}
	rw.n++
	if err := rw.w.Write(append([]string{strconv.Itoa(r.Line), reason}, r.Raw...)); err != nil {
		return fmt.Errorf("write rejects file: %w", err)
	}
	return nil
}

// Count is the number of rows written.
func (rw *RejectWriter) Count() int {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.n
}

// Flush writes what is buffered.
func (rw *RejectWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.w.Flush()
	if err := rw.w.Error(); err != nil {
		return fmt.Errorf("write rejects file: %w", err)
	}
	return nil
}

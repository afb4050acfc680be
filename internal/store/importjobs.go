package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ImportJob is an import of the web app's Import page: the uploaded file,
// its counts so far and, once finished, its rejected rows, or the error
// that stopped it.
type ImportJob struct {
	ID, UserEmail, FileName string
	Total                   int
	Counts                  ImportCounts
	Rejects                 []ImportReject
	StartedAt               time.Time
	FinishedAt              *time.Time // nil while it runs
	Error                   string
}

// ImportCounts are an import's rows done so far: Done is Started, Existing
// and Rejected together; Repeated are the rows of Existing that repeat an
// earlier row of the file.
type ImportCounts struct {
	Done, Started, Existing, Repeated, Rejected int
}

// ImportReject is a rejected row: its line in the file, why, and its content.
type ImportReject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Row    string `json:"row"`
}

// CreateImportJob records a running import of total rows and returns its id.
func CreateImportJob(ctx context.Context, pool *Pool, userEmail, fileName string, total int, startedAt time.Time) (string, error) {
	var id string
	err := pool.QueryRow(ctx, `INSERT INTO import_jobs (user_email, file_name, total_rows, started_at)
		VALUES ($1, $2, $3, $4) RETURNING id::text`, userEmail, fileName, total, startedAt).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("create import job of %s for %s: %w", fileName, userEmail, err)
	}
	return id, nil
}

// UpdateImportJob records the counts of a running import.
func UpdateImportJob(ctx context.Context, pool *Pool, id string, n ImportCounts) error {
	if _, err := pool.Exec(ctx, `UPDATE import_jobs SET done = $2, started = $3, existing = $4, repeated = $5, rejected = $6
		WHERE id = $1 AND finished_at IS NULL`, id, n.Done, n.Started, n.Existing, n.Repeated, n.Rejected); err != nil {
		return fmt.Errorf("update import job %s: %w", id, err)
	}
	return nil
}

// FinishImportJob records an import's final counts, its rejected rows and
// the error that stopped it ("" when it ran to the end).
func FinishImportJob(ctx context.Context, pool *Pool, id string, n ImportCounts, rejects []ImportReject, runErr string, finishedAt time.Time) error {
	if rejects == nil {
		rejects = []ImportReject{}
	}
	js, err := json.Marshal(rejects)
	if err != nil {
		return fmt.Errorf("finish import job %s: %w", id, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE import_jobs SET done = $2, started = $3, existing = $4, repeated = $5, rejected = $6,
		rejects = $7, error = $8, finished_at = $9 WHERE id = $1`,
		id, n.Done, n.Started, n.Existing, n.Repeated, n.Rejected, js, runErr, finishedAt); err != nil {
		return fmt.Errorf("finish import job %s: %w", id, err)
	}
	return nil
}

// ImportJobOf finds the import id started by userEmail; ok is false when
// there is none (or it is another user's, or id is no job id at all).
func ImportJobOf(ctx context.Context, pool *Pool, id, userEmail string) (ImportJob, bool, error) {
	var j ImportJob
	var rejects []byte
	err := pool.QueryRow(ctx, `SELECT id::text, user_email, file_name, total_rows, done, started, existing, repeated, rejected,
		rejects, started_at, finished_at, error FROM import_jobs WHERE id = $1 AND lower(user_email) = lower($2)`, id, userEmail).
		Scan(&j.ID, &j.UserEmail, &j.FileName, &j.Total, &j.Counts.Done, &j.Counts.Started, &j.Counts.Existing,
			&j.Counts.Repeated, &j.Counts.Rejected, &rejects, &j.StartedAt, &j.FinishedAt, &j.Error)
	var pe *pgconn.PgError
	if errors.Is(err, pgx.ErrNoRows) || (errors.As(err, &pe) && pe.Code == "22P02") { // 22P02: not a uuid
		return ImportJob{}, false, nil
	}
	if err != nil {
		return ImportJob{}, false, fmt.Errorf("find import job %s: %w", id, err)
	}
	if err := json.Unmarshal(rejects, &j.Rejects); err != nil {
		return ImportJob{}, false, fmt.Errorf("import job %s: rejects: %w", id, err)
	}
	return j, true, nil
}

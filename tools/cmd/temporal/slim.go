package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	persistencespb "go.temporal.io/server/api/persistence/v1"
	"google.golang.org/protobuf/proto"
)

// slimCommand drops the visibility indexes of a dev server's SQLite file that
// no query of the dev stack needs.
//
// Why: start-dev's visibility table has 45 indexes, one per column that a list
// query could filter on, including 22 for the custom search attribute columns
// whether a namespace uses them or not. Every workflow start inserts a
// visibility row and every search-attribute upsert replaces it, so each
// writes all 45, through the server's single SQLite connection. A profile of
// the server during a 10,000-lead import put 26% of its CPU in that insert
// alone; with the unused indexes gone, the import went from 205–221 to
// 284–320 leads/s, and end to end from 105–109 to 130–140 (README,
// Throughput).
//
// An index never changes what a query returns, only how fast: a list filtered
// by a column whose index was dropped still answers, by scanning. Kept: the
// default order (start and close time), workflow id and type, status,
// execution time, task queue, the namespace division the server adds to every
// user query, and each custom column some namespace has given a search
// attribute. A dropped index's definition is kept in dealflow_dropped_indexes;
// when its column gets a search attribute later, the next run recreates it.
//
// It looks at the namespaces and search attributes the file has when it runs:
// one registered while the server runs is unindexed until the next start
// (slower to filter by, never wrong). Run it only while no server has the
// file open (the dev stack runs it before each start); it is idempotent.
const slimCommand = "dealflow-slim-visibility"

// systemColumns are the visibility columns whose indexes stay (besides the
// custom columns in use and indexes that lead with an expression).
var systemColumns = map[string]bool{
	"workflow_id": true, "workflow_type_name": true, "status": true,
	"execution_time": true, "task_queue": true, "TemporalNamespaceDivision": true,
}

func slimVisibility(args []string, out io.Writer) error {
	fs := flag.NewFlagSet(slimCommand, flag.ContinueOnError)
	file := fs.String("db-filename", "", "the dev server's SQLite file (required; must exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		return errors.New("usage: temporal " + slimCommand + " --db-filename FILE")
	}
	if _, err := os.Stat(*file); err != nil {
		return err
	}
	// The write lock is taken at BEGIN (immediate), so that a writer the
	// busy timeout waits for cannot invalidate what this reads before writing.
	db, err := sql.Open("sqlite", "file:"+*file+"?mode=rw&_txlock=immediate&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	used, err := customColumnsInUse(ctx, tx)
	if err != nil {
		return err
	}
	keep := func(column string) bool { return column == "" || systemColumns[column] || used[column] }

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS dealflow_dropped_indexes (
		name TEXT PRIMARY KEY, column_name TEXT NOT NULL, definition TEXT NOT NULL)`); err != nil {
		return err
	}
	var restored, dropped []string
	type saved struct{ name, column, definition string }
	var back []saved
	if err := queryRows(ctx, tx, `SELECT name, column_name, definition FROM dealflow_dropped_indexes ORDER BY name`, func(r *sql.Rows) error {
		var s saved
		if err := r.Scan(&s.name, &s.column, &s.definition); err != nil {
			return err
		}
		if keep(s.column) {
			back = append(back, s)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, s := range back {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?`, s.name).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 { // else made again by someone else: only forget it
			if _, err := tx.ExecContext(ctx, s.definition); err != nil {
				return fmt.Errorf("recreate index %s: %w", s.name, err)
			}
			restored = append(restored, s.name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dealflow_dropped_indexes WHERE name = ?`, s.name); err != nil {
			return err
		}
	}

	type index struct{ name, definition string }
	var indexes []index
	if err := queryRows(ctx, tx, `SELECT name, sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL ORDER BY name`, func(r *sql.Rows) error {
		var ix index
		if err := r.Scan(&ix.name, &ix.definition); err != nil {
			return err
		}
		indexes = append(indexes, ix)
		return nil
	}); err != nil {
		return err
	}
	var kept []string
	for _, ix := range indexes {
		column, err := filterColumn(ctx, tx, ix.name)
		if err != nil {
			return err
		}
		if keep(column) {
			kept = append(kept, ix.name)
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO dealflow_dropped_indexes (name, column_name, definition)
			VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`, ix.name, column, ix.definition); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DROP INDEX `+quoteIdent(ix.name)); err != nil {
			return fmt.Errorf("drop index %s: %w", ix.name, err)
		}
		dropped = append(dropped, ix.name)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s: visibility indexes kept %d%s, dropped %d%s, recreated %d%s\n", slimCommand, *file,
		len(kept), list(kept), len(dropped), list(dropped), len(restored), list(restored))
	return nil
}

// customColumnsInUse returns the custom search attribute columns (Keyword01,
// Double01, …) that some namespace of the file maps a search attribute to.
func customColumnsInUse(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	used := map[string]bool{}
	err := queryRows(ctx, tx, `SELECT name, data, data_encoding FROM namespaces`, func(r *sql.Rows) error {
		var name, encoding string
		var data []byte
		if err := r.Scan(&name, &data, &encoding); err != nil {
			return err
		}
		if encoding != "Proto3" {
			return fmt.Errorf("namespace %s is stored as %q, not Proto3: not a file this command knows", name, encoding)
		}
		var detail persistencespb.NamespaceDetail
		if err := proto.Unmarshal(data, &detail); err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		for column := range detail.GetConfig().GetCustomSearchAttributeAliases() {
			used[column] = true
		}
		return nil
	})
	return used, err
}

// filterColumn is the column an index orders by after namespace_id, or ""
// when that is an expression (the default order's close time).
func filterColumn(ctx context.Context, tx *sql.Tx, index string) (string, error) {
	var column sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT name FROM pragma_index_info(?) WHERE seqno = 1`, index).Scan(&column)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("columns of index %s: %w", index, err)
	}
	return column.String, nil
}

func queryRows(ctx context.Context, tx *sql.Tx, query string, each func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func list(names []string) string {
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return " (" + strings.Join(names, ", ") + ")"
}

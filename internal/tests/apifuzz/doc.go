// Package apifuzz fuzzes every request body the HTTP API decodes, and the
// CSV import's row parser, end to end: the fuzz targets drive the real
// server (internal/httpapi, built in the test process so that the fuzzer sees
// its coverage) and the real importer (internal/leadimport) against the real
// worker, Temporal dev server and PostgreSQL of an e2e stack. For every input
// the harness asserts that the answer is not a 5xx (a panic is answered
// 500), that a rejected input (4xx, a refused row) wrote nothing — no row of
// the deal it aimed at changed, no lead, account, contact, user or token
// appeared, no deal started — and that an accepted one left a healthy deal
// (its lead row written, no failing workflow task or activity).
//
// Targets: FuzzCreateLead (POST /v1/leads, body and Idempotency-Key),
// FuzzAction (every action route and PATCH /v1/leads/{id}, each aimed at a
// deal in a stage where it can be accepted), FuzzCreateUser (POST
// /v1/users), FuzzImportCSV (a CSV file through the row parser and the
// import). Seeds are in testdata/fuzz. `go test` runs the seeds; `make test`
// also fuzzes each target briefly; a longer run:
//
//	go test ./internal/tests/apifuzz -run '^$' -fuzz '^FuzzAction$' -fuzztime 2m -parallel 1 -fuzzminimizetime 0
//
// Each input is a round trip to real servers, so minimizing the inputs that
// widen coverage (up to 60 s each by default) would take most of a run:
// -fuzzminimizetime 0 turns it off. The fuzz workers (child processes of `go
// test -fuzz`) share the one stack the test process starts, and take a
// PostgreSQL advisory lock around each input, so the rows counted before and
// after it are its own. A run leaves the inputs it found in Go's fuzz cache,
// which every later run replays first; `go clean -fuzzcache` empties it.
package apifuzz

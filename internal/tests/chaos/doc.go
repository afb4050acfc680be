// Package chaos proves that crashes lose nothing: its test runs deals through
// the HTTP API of a real stack (worker and api binaries, Temporal dev server
// on a file database, PostgreSQL) while it SIGKILLs the worker, kills and
// restarts Temporal, PostgreSQL and the API, and then checks every deal's
// outcome and follow-up messages, and every row it owns in PostgreSQL against
// the workflow's state, column by column (package dealrows).
//
// The size is a flag; `make test` runs the default (40 deals) on a pinned
// crash schedule (-chaos.seed, default 19; 0 draws a new one):
//
//	go test ./internal/tests/chaos -run TestCrashRestart -v -chaos.deals=200
package chaos

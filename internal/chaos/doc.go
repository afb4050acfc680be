// Package chaos proves that crashes lose nothing: its test runs deals through
// the HTTP API of a real stack (worker and api binaries, Temporal dev server
// on a file database, PostgreSQL) while it SIGKILLs the worker, kills and
// restarts Temporal, PostgreSQL and the API, and then checks every deal's
// outcome, records, timeline and follow-up messages.
//
// The size is a flag; `make test` runs the default (40 deals):
//
//	go test ./internal/chaos -run TestCrashRestart -v -chaos.deals=200
package chaos

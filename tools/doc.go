// Package tools is the module that pins the Temporal CLI (dev server with the
// embedded Web UI) and builds it from source through the module proxy, so its
// large dependency graph never enters the app's go.mod. The binary is
// cmd/temporal: the CLI unchanged, plus one command of ours for the dev
// stack's database file (cmd/temporal/slim.go).
package tools

// Package tools pins the Temporal CLI (dev server with the embedded Web UI) as a
// Go tool in its own module, so `go tool temporal` builds it from source through
// the module proxy while its large dependency graph never enters the app's go.mod.
package tools

// Package profiling serves Go's runtime profiles on an operators' listener.
package profiling

import (
	"net/http"
	"net/http/pprof"
)

// Register serves Go's profiles under /debug/pprof/ on mux. It belongs on a
// listener for operators only (the worker's and the API's metrics
// listeners, loopback by default), never on the API's public port: where a
// process's CPU per deal goes is read from a CPU profile taken under load
// (docs/benchmarks.md, issue 18).
func Register(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

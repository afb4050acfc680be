// Package server is the module that pins the Temporal server for the local
// cluster (devstack.StartCluster, `make up ARGS=-temporal=cluster`) and builds
// it from source through the module proxy; its go.mod's tool directives name
// the three programs devstack.EnsureTemporalServer builds:
//
//   - go.temporal.io/server/cmd/server: temporal-server, one process per service;
//   - go.temporal.io/server/cmd/tools/sql: temporal-sql-tool, which creates and
//     migrates the PostgreSQL schemas embedded in it;
//   - github.com/temporalio/ui-server/v2/cmd/server: the Web UI, its assets
//     embedded (the UI server the CLI embeds, run on its own).
//
// It is a module of its own, apart from tools/ (the CLI, which pins server
// v1.29.1): v1.32.0 is the newest server Go 1.26.8 accepts (v1.31.5 and
// v1.32.2 ask for 1.26.10), it declares go 1.26.8 (so this go.mod does too),
// and it carries the fix for the Update "premature end of stream"
// workflow-task failure on a worker-cache miss (temporalio/temporal#7741,
// fixed by #9325).
package server

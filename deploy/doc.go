// Package deploy holds the deployment files that docker-compose.yml (at the
// repository root) mounts, such as the Temporal server's dynamic config. It
// has no code: its test loads docker-compose.yml with compose-go and checks it
// against what the binaries read (internal/config) and what the deal
// workflow needs (workflows.SearchAttributes), since no Docker engine runs
// where the tests do.
package deploy

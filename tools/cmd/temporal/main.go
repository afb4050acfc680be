// Command temporal is the Temporal CLI of the pinned version, unchanged, with
// one command of ours added for the dev stack's database file (see
// slim.go). Everything else goes to the CLI as `temporal` itself would run it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/temporalio/cli/temporalcli"

	// As in the CLI's own main: keep the SQLite driver at the pinned version.
	_ "modernc.org/sqlite"
	// Embed the time zone database as a fallback, as the CLI does.
	_ "time/tzdata"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == slimCommand {
		if err := slimVisibility(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "temporal %s: %v\n", slimCommand, err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	temporalcli.Execute(ctx, temporalcli.CommandOptions{})
}

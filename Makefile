# The two commands of the README. `make up` runs the whole stack until Ctrl-C
# (flags: make up ARGS='-h'); `make test` runs every test, end-to-end ones
# included, against real servers the tests start themselves.
GO ?= go

.PHONY: up test temporal-tools screenshots

# Built, then run directly rather than with `go run`, which exits 1 on
# Ctrl-C whatever the program does (make would then report an error).
up:
	@$(GO) build -o .dev/bin/stack ./cmd/stack
	.dev/bin/stack $(ARGS)

# The fuzz budgets are counts of inputs, about what 20/12/12/6 s ran on
# 2 cores: a duration budget can fail a run that found nothing ("context
# deadline exceeded" as the time runs out: a race in Go's fuzzing
# coordinator, go.dev/issue/75804, fixed in Go 1.27; seen here once).
test: temporal-tools
	$(GO) vet ./...
	cd tools && GOWORK=off $(GO) vet ./...
	$(GO) test ./... -count=1 -timeout 40m
	$(GO) test ./internal/tests/apifuzz -run '^$$' -fuzz '^FuzzAction$$' -fuzztime 3000x -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/tests/apifuzz -run '^$$' -fuzz '^FuzzCreateLead$$' -fuzztime 2000x -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/tests/apifuzz -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime 6000x -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/tests/apifuzz -run '^$$' -fuzz '^FuzzCreateUser$$' -fuzztime 3000x -parallel 1 -fuzzminimizetime 0

# Builds the Temporal CLI (.dev/bin/temporal, from tools/) and the Temporal
# server, its schema tool and the Web UI server (.dev/bin/temporal-*, from
# tools/server) when missing or stale, before the tests run, so a cold build
# (~13 min for the CLI and ~10 more for the server on 2 cores) shows its
# progress here instead of silently eating the tests' timeout.
temporal-tools:
	@$(GO) build -o .dev/bin/stack ./cmd/stack
	.dev/bin/stack -build-cli -build-server

# The README's pictures (docs/images): the browser tests that make them run
# against their own stack (Chromium needed, see `make test`) with their PNGs
# in a temp folder, and the chosen ones are copied over the committed ones.
screenshots: temporal-tools
	@dir=$$(mktemp -d -t dealflow-screenshots-XXXXXX) && set -x && \
	DEALFLOW_SCREENSHOTS=$$dir $(GO) test ./internal/tests/browser/ -count=1 -v \
		-run '^(TestREADMEScreenshots|TestTemporalUIColumnsAndSavedView)$$' && \
	mkdir -p docs/images && \
	cp $$dir/TestREADMEScreenshots/[0-9][0-9]-board.png docs/images/web-board.png && \
	cp $$dir/TestREADMEScreenshots/[0-9][0-9]-deal.png docs/images/web-deal.png && \
	cp $$dir/TestTemporalUIColumnsAndSavedView/[0-9][0-9]-saved-view.png docs/images/temporal-ui-columns.png

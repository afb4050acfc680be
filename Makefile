# The two commands of the README. `make up` runs the whole stack until Ctrl-C
# (flags: make up ARGS='-h'); `make test` runs every test, end-to-end ones
# included, against real servers the tests start themselves.
GO ?= go

.PHONY: up test temporal-cli

# Built, then run directly rather than with `go run`, which exits 1 on
# Ctrl-C whatever the program does (make would then report an error).
up:
	@$(GO) build -o .dev/bin/stack ./cmd/stack
	.dev/bin/stack $(ARGS)

test: temporal-cli
	$(GO) vet ./...
	cd tools && GOWORK=off $(GO) vet ./...
	$(GO) test ./... -count=1 -timeout 40m
	$(GO) test ./internal/apifuzz -run '^$$' -fuzz '^FuzzAction$$' -fuzztime 20s -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/apifuzz -run '^$$' -fuzz '^FuzzCreateLead$$' -fuzztime 12s -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/apifuzz -run '^$$' -fuzz '^FuzzImportCSV$$' -fuzztime 12s -parallel 1 -fuzzminimizetime 0
	$(GO) test ./internal/apifuzz -run '^$$' -fuzz '^FuzzCreateUser$$' -fuzztime 6s -parallel 1 -fuzzminimizetime 0

# Builds .dev/bin/temporal from tools/ when missing or stale, before the
# tests run, so a cold build (~13 min on 2 cores) shows its progress here
# instead of silently eating the tests' timeout.
temporal-cli:
	@$(GO) build -o .dev/bin/stack ./cmd/stack
	.dev/bin/stack -build-cli

# The two commands of the README. `make up` runs the whole stack until Ctrl-C
# (flags: make up ARGS='-h'); `make test` runs every test, end-to-end ones
# included, against real servers the tests start themselves.
GO ?= go

.PHONY: up test temporal-cli

up:
	$(GO) run ./cmd/stack $(ARGS)

test: temporal-cli
	$(GO) vet ./...
	$(GO) test ./... -count=1 -timeout 40m

# Builds .dev/bin/temporal from tools/go.mod when missing or stale, before the
# tests run, so a cold build (~13 min on 2 cores) shows its progress here
# instead of silently eating the tests' timeout.
temporal-cli:
	$(GO) run ./cmd/stack -build-cli

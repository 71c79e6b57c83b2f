# Convenience targets; the README's commands work without make.
.PHONY: run test fuzz build bench fmt

run:
	go run ./cmd/parley

test:
	./scripts/test

fuzz:
	./scripts/fuzz 1m

build:
	go build -o bin/parley ./cmd/parley

bench:
	go test -run '^$$' -bench . -benchtime 3s ./sqlite/

fmt:
	gofmt -w $$(git ls-files '*.go')

#!/usr/bin/env bash
# Runs Gatehouse's checks: gofmt, go vet and the test suite.
#
#   scripts/test.sh            # every package
#   scripts/test.sh ./saml/... # some packages
#
# Works on a bare machine: tests that need a third-party peer (pysaml2,
# SimpleSAMLphp, PostgreSQL, ...) skip when it is missing, unless
# GATEHOUSE_REQUIRE_PEERS=1 is set (as .ci/run does), in which case they fail.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if (($# == 0)); then
	set -- ./...
fi

status=fail
trap 'if [[ $status == ok ]]; then echo "scripts/test.sh: PASS (gofmt, go vet, go test $*)"; else echo "scripts/test.sh: FAIL" >&2; fi' EXIT

echo "==> gofmt -l"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
if [[ -n $unformatted ]]; then
	echo "these files need gofmt:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "==> go vet $*"
go vet "$@"

echo "==> go test -count=1 -timeout 30m $*"
go test -count=1 -timeout 30m "$@"

status=ok

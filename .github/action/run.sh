#!/usr/bin/env bash
# The Action's test step (action.yml): `archsmoke run SPEC` with the inputs as flags. Extra
# arguments are split on whitespace (quote nothing; use a spec key for values with spaces).
# Exits with archsmoke's exit code: 0 passed, 1 a test failed, 2 bad spec, 3 infrastructure.
set -euo pipefail

: "${ARCHSMOKE_SPEC:?the spec input is required}"
args=(run "$ARCHSMOKE_SPEC")
if [[ -n ${ARCHSMOKE_IMAGE:-} ]]; then args+=(--image "$ARCHSMOKE_IMAGE"); fi
if [[ -n ${ARCHSMOKE_JUNIT:-} ]]; then args+=(--junit "$ARCHSMOKE_JUNIT"); fi
if [[ -n ${ARCHSMOKE_JSON:-} ]]; then args+=(--json "$ARCHSMOKE_JSON"); fi
if [[ -n ${ARCHSMOKE_ARGS:-} ]]; then
  read -r -a extra <<<"$ARCHSMOKE_ARGS"
  args+=("${extra[@]}")
fi
bin=${ARCHSMOKE_BIN:-archsmoke}
echo "+ archsmoke ${args[*]}" >&2
status=0
"$bin" "${args[@]}" || status=$?
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "exit-code=$status" >>"$GITHUB_OUTPUT"; fi
exit "$status"

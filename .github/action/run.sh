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
if [[ -n ${ARCHSMOKE_ATTEST_KEY:-} ]]; then
  # The key comes from a secret: into a file only this job can read, gone when the step ends.
  key_dir=$(umask 077 && mktemp -d "${RUNNER_TEMP:-/tmp}/archsmoke-key.XXXXXX")
  trap 'rm -rf "$key_dir"' EXIT
  (umask 077 && printf '%s\n' "$ARCHSMOKE_ATTEST_KEY" >"$key_dir/key.pem")
  args+=(--attest --key "$key_dir/key.pem")
fi
if [[ -n ${ARCHSMOKE_ATTEST_DIR:-} ]]; then args+=(--attest-dir "$ARCHSMOKE_ATTEST_DIR"); fi
bin=${ARCHSMOKE_BIN:-archsmoke}
echo "+ archsmoke ${args[*]}" >&2
status=0
"$bin" "${args[@]}" || status=$?
if [[ -n ${GITHUB_OUTPUT:-} ]]; then echo "exit-code=$status" >>"$GITHUB_OUTPUT"; fi
exit "$status"

# tests/tools/check.sh: the harness of the shell tests, sourced (not run):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
#   run "$SEQC" check m.yaml      # $STATUS, $OUT, $ERR: stdout and stderr apart
#   expect_status 1
#   expect_err "unknown op 'lstmm'"
#   expect_no_out
#   finish                        # the summary; exit 1 on any failure
#
# Each check holds or fails, and finish counts them: an expect_* is one (but
# expect_tensors, three); succeeds, quiet and fails run a command and check it.
# Stdout and stderr are never merged, because "diagnostics go to stderr, nothing
# half-done to stdout" (SPEC 7) is itself something the tests check.
# Patterns are fixed strings (expect_out, expect_err) unless the name ends in
# _re (grep -E). An empty pattern matches everything, so it proves nothing: it
# is a bug of the test and fails it. Sets up $tmp, a folder removed on exit,
# and $here, the test's own folder (for the data files beside it).

set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
checks_passed=0 # checks that held
checks_failed=0 # checks that did not
CMD=            # the last command of run, as text for messages
STATUS=0        # its exit status
OUT=            # its stdout (trailing newlines dropped)
ERR=            # its stderr (trailing newlines dropped)
shown=0         # 1 once a failure printed the last command's output

# ok: count a check that held
ok() { checks_passed=$((checks_passed + 1)); }

# fail WHY...: count a check that did not hold, and say why
fail() {
  checks_failed=$((checks_failed + 1))
  echo "FAIL: $*"
}

# fail_run WHY: a failed check about the last command; its output is shown
# with the first such failure only, so one broken command is one block
fail_run() {
  fail "$CMD -> $1"
  [ "$shown" = 1 ] && return
  shown=1
  echo "  stdout:"
  printf '%s\n' "$OUT" | head -n 10 | sed 's/^/    /'
  echo "  stderr:"
  printf '%s\n' "$ERR" | head -n 10 | sed 's/^/    /'
}

# run CMD...: runs CMD with stdout in $OUT and stderr in $ERR, its exit status
# in $STATUS; returns that status. The files are per process (aot.sh runs
# models in parallel subshells).
run() {
  local o=$tmp/.out.$BASHPID e=$tmp/.err.$BASHPID
  CMD=$*
  shown=0
  "$@" >"$o" 2>"$e"
  STATUS=$?
  OUT=$(cat "$o")
  ERR=$(cat "$e")
  rm -f "$o" "$e"
  return "$STATUS"
}

# expect_that WHY CMD...: CMD (a test such as `[ -e f ]`) succeeds; WHY says
# what failed when it does not
expect_that() {
  local why=$1
  shift
  if "$@"; then ok; else fail "$why"; fi
}

# expect_status N: the last command exited with N
expect_status() {
  if [ "$STATUS" -eq "$1" ]; then ok; else fail_run "status $STATUS, want $1"; fi
}

# expect_in STREAM HOW PATTERN: STREAM (out or err) of the last command has
# PATTERN, grep HOW (-F a fixed string, -E an extended regex). An empty
# pattern is a bug of the test: it fails, loudly.
expect_in() {
  local text=$OUT what="'$3'"
  [ "$1" = err ] && text=$ERR
  [ "$2" = -E ] && what="/$3/"
  if [ -z "$3" ]; then
    fail "test bug: an empty pattern for std$1 matches anything ($CMD)"
  elif printf '%s\n' "$text" | grep -q "$2" -- "$3"; then
    ok
  else
    fail_run "no $what on std$1"
  fi
}

# expect_out TEXT: stdout holds TEXT (a fixed string)
expect_out() { expect_in out -F "${1-}"; }
# expect_out_re ERE: a line of stdout matches ERE
expect_out_re() { expect_in out -E "${1-}"; }
# expect_err TEXT: stderr holds TEXT (a fixed string)
expect_err() { expect_in err -F "${1-}"; }
# expect_err_re ERE: a line of stderr matches ERE
expect_err_re() { expect_in err -E "${1-}"; }

# expect_out_lacks_re ERE: no line of stdout matches ERE
expect_out_lacks_re() {
  if [ -z "${1-}" ]; then
    fail "test bug: an empty pattern for stdout matches anything ($CMD)"
  elif printf '%s\n' "$OUT" | grep -Eq -- "$1"; then
    fail_run "stdout has /$1/: $(printf '%s\n' "$OUT" | grep -E -- "$1" | head -n 3)"
  else
    ok
  fi
}

# expect_no_out: the last command printed nothing on stdout
expect_no_out() { if [ -z "$OUT" ]; then ok; else fail_run "stdout not empty"; fi; }
# expect_no_err: the last command printed nothing on stderr
expect_no_err() { if [ -z "$ERR" ]; then ok; else fail_run "stderr not empty"; fi; }

# expect_first_err PREFIX [ERE]: the first line of stderr starts with PREFIX
# (a fixed string; a path may hold any character) and what follows it
# starts with a match of ERE
expect_first_err() {
  local first=${ERR%%$'\n'*}
  if [ -z "${1-}" ]; then
    fail "test bug: an empty prefix for stderr matches anything ($CMD)"
  elif [[ "$first" != "$1"* ]]; then
    fail_run "stderr's first line does not start with '$1'"
  elif [ -n "${2:-}" ] && ! printf '%s\n' "${first#"$1"}" | grep -Eq -- "^($2)"; then
    fail_run "stderr's first line has not /$2/ after '$1'"
  else
    ok
  fi
}

# succeeds CMD...: run CMD; it exits 0. Returns 0 if it did.
succeeds() {
  run "$@"
  expect_status 0
  [ "$STATUS" -eq 0 ]
}

# quiet CMD...: run CMD; it exits 0 and prints nothing, on stdout or stderr.
# Returns 0 if all three held.
quiet() {
  local before=$checks_failed
  run "$@"
  expect_status 0
  expect_no_out
  expect_no_err
  [ "$checks_failed" -eq "$before" ]
}

# fails N CMD...: run CMD; it exits N (not 0) with nothing on stdout (the
# diagnostics go to stderr; check them with expect_err)
fails() {
  local want=$1
  shift
  run "$@"
  expect_status "$want"
  expect_no_out
}

# expect_tensors GOT WANT [OPTION...]: stcompare (in $TOOLS) finds every tensor
# of WANT in GOT, equal within its tolerances or OPTIONs (--atol 0 --rtol 0:
# the same bits)
expect_tensors() {
  run "$TOOLS/stcompare" "$@"
  expect_status 0
  expect_out "all tensors match"
  expect_no_err
}

# save_counts FILE: this (sub)shell's counts into FILE, for add_counts
save_counts() { echo "$checks_passed $checks_failed" >"$1"; }

# add_counts FILE: add the counts a subshell saved; no file is a failure
add_counts() {
  local p f
  if read -r p f <"$1"; then
    checks_passed=$((checks_passed + p))
    checks_failed=$((checks_failed + f))
  else
    fail "no counts in $1 (the subshell died)"
  fi
}

# finish [N]: print "NAME: P passed, F failed" and exit; the status is 1 when
# a check failed, when none ran (a test that checks nothing proves nothing), or
# when N is given and not exactly N checks ran (a check lost to a guard or an
# early return fails the test instead of shrinking it)
finish() {
  local total=$((checks_passed + checks_failed))
  echo "$(basename "$0" .sh): $checks_passed passed, $checks_failed failed"
  if [ "$total" -eq 0 ]; then
    echo "FAIL: no check ran"
    exit 1
  fi
  if [ -n "${1:-}" ] && [ "$total" -ne "$1" ]; then
    echo "FAIL: $total checks ran, want $1"
    exit 1
  fi
  [ "$checks_failed" -eq 0 ] || exit 1
  exit 0
}

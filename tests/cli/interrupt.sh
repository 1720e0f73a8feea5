#!/usr/bin/env bash
# Ctrl-C (SIGINT) during `seqc generate` and `seqc bench` (issue 23): the
# loop stops after the step it comes in and prints what was done (generate:
# the tokens so far, the timing line, --output with them; bench: the timings
# of the runs made), then "seqc: error: interrupted (Ctrl-C) ..." and exit
# status 130. The signal is sent once the process has its handler (seen in
# /proc/PID/status), so it never lands in the compile, where it kills.
# Needs $SEQC, $TOOLS (stdump).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"

cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
cat >"$tmp/lm.yaml" <<'EOF'
seqc: 1
name: tiny_lm
dims: {B: 1, T: 4}
inputs:
  tokens: {dtype: i64, shape: [B, T]}
outputs: [head]
nodes:
  embed: {op: embedding, input: tokens, num_embeddings: 20, embedding_dim: 8}
  head:  {op: linear, input: embed, out_features: 20}
EOF

# job control: a background job of a script without it ignores SIGINT, and
# seqc keeps an ignored SIGINT ignored (as nohup wants)
set -m

# catches_sigint PID: PID has a handler for SIGINT (bit 1 of SigCgt)
catches_sigint() {
  local mask
  mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$mask" ] && (((16#$mask & 2) != 0))
}

# interrupt_when PID COND...: once COND holds (polled up to 60 s), SIGINT to
# PID, which must end within 30 s; then $STATUS, $OUT, $ERR as `run` leaves
# them (from $tmp/out, $tmp/err)
interrupt_when() {
  local pid=$1 k
  shift
  for k in $(seq 1 600); do
    "$@" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -INT "$pid" 2>/dev/null
  # a loop that does not stop is killed after 30 s (status 137), not waited
  # for; the watchdog ends itself within 0.1 s of the process
  (for k in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.1
  done
  kill -KILL "$pid") >/dev/null 2>&1 &
  local watchdog=$!
  wait "$pid"
  STATUS=$?
  wait "$watchdog"
  OUT=$(cat "$tmp/out")
  ERR=$(cat "$tmp/err")
}

# ---- generate: the tokens so far, the report, the output file ----
gen=("$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1 2 3" --max-new-tokens 100000)
"${gen[@]}" --output "$tmp/o.st" >"$tmp/out" 2>"$tmp/err" &
pid=$!
CMD="${gen[*]} (SIGINT after its first tokens)"
interrupt_when "$pid" eval 'catches_sigint $pid && [ "$(wc -w <"$tmp/out")" -ge 3 ]'
expect_status 130
read -r -a tokens <<<"$OUT"
n=${#tokens[@]}
expect_that "no tokens before the interrupt" [ "$n" -ge 3 ]
expect_err_re "^seqc: prefill [0-9.]+ ms \(1 x 3 tokens\), [0-9.]+ ms per new token"
expect_err_re "^seqc: error: interrupted \(Ctrl-C\) after $n of 100000 new tokens$"
# the same tokens in the output file, after the prompt
run "$TOOLS/stdump" "$tmp/o.st" -n 0
expect_out "tokens: i64 [1, $((3 + n))] = 1 2 3 ${tokens[*]}"
expect_out "logits: f32 [1, $n, 20]"

# ---- bench: the timings of the runs made ----
# runs of some 0.1 ms: a million would take minutes, the watchdog kills it first
"$SEQC" bench "$tmp/mlp.yaml" --dim B=4096 --iters 1000000 >"$tmp/out" 2>"$tmp/err" &
pid=$!
CMD="seqc bench --iters 1000000 (SIGINT 1 to 2 s into its runs)"
started=0
# started: when the handler was first seen (a whole second, so 1 to 2 s before)
interrupt_when "$pid" eval 'catches_sigint $pid &&
  { [ $started -gt 0 ] || started=$SECONDS; [ $((SECONDS - started)) -ge 2 ]; }'
expect_status 130
expect_out_re "^run: +median [0-9.]+ ms +\(p10 [0-9.]+, p90 [0-9.]+\) over [0-9]+ runs"
runs=$(sed -n 's/.* over \([0-9]*\) runs.*/\1/p' <<<"$OUT")
expect_that "bench made no run before the interrupt: '$OUT'" [ "${runs:-0}" -ge 1 ]
expect_that "bench did not stop at the interrupt: $runs runs" [ "${runs:-0}" -lt 1000000 ]
expect_err_re "^seqc: error: interrupted \(Ctrl-C\) after ${runs:-?} timed runs$"

finish

#!/usr/bin/env bash
# The hunt for messages outside the one format (issue 23): mutated model
# files, weight files, input files and argument lists, fed to every command
# of seqc and to seqrt-run. Whatever they do, they never die of a signal;
# a failure exits 1 (2 for usage); and every stderr line of every run is
# "seqc: error: ", "seqc: warning: " (or "seqrt-run: ..."), a positioned
# "FILE:LINE:COL: error: " (or warning) with its source and caret lines, or
# the "(see `seqc CMD --help`)" hint after a usage error. The mutations are
# drawn from a fixed seed, so a failure is found again by running again.
# Needs $SEQC, $TOOLS (stgen; seqrt-run is in its sibling runtime/).
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
RT=$(dirname "$TOOLS")/runtime
MSG='^(seqc|seqrt-run): (error|warning): |^[^:]+:[0-9]+:[0-9]+: (error|warning): '
HINT='^\(see `(seqc( [a-z]+)?|seqrt-run) --help`\)$'
# what a successful run may also say on stderr: the timing lines of
# generate and --time
INFO='^seqc: (prefill [0-9.]+ ms|compile: )'

# stray_lines: the lines of $ERR outside the format, one per line. A
# positioned diagnostic may be followed by its source line (any text) and
# then its caret line (blanks and a ^).
stray_lines() {
  printf '%s\n' "$ERR" | awk -v msg="$MSG" -v hint="$HINT" -v info="$INFO" '
    $0 == "" && NR == 1 { next }
    $0 ~ msg { after = ($0 ~ /^[^:]+:[0-9]+:[0-9]+: /) ? 1 : 0; next }
    after == 1 { after = 2; next }                       # the source line
    after == 2 && $0 ~ /^[ \t]*\^$/ { after = 0; next }  # its caret
    $0 ~ hint || $0 ~ info { after = 0; next }
    { print; after = 0 }'
}

# judge: the last command died of no signal, exited 0, 1 or 2 (a failure
# may not exit 0 silently: 1 and 2 must say something), and every line of
# its stderr has the format
judge() {
  local stray
  if [ "$STATUS" -gt 2 ]; then
    fail_run "status $STATUS (a signal or a stray status)"
    return
  fi
  if [ "$STATUS" -ne 0 ] && [ -z "$ERR" ]; then
    fail_run "status $STATUS and nothing on stderr"
    return
  fi
  stray=$(stray_lines)
  if [ -n "$stray" ]; then
    fail_run "stderr lines outside the format: $(head -n 3 <<<"$stray")"
  else
    ok
  fi
}

# try CMD...: run CMD under a time limit and judge it
try() {
  run timeout -s KILL 20 "$@"
  judge
}

# ---- pseudo-random mutations, the same every run ----
seed=23
# rnd N: a number in [0, N) into $R (0 when N < 1: an empty file)
rnd() {
  seed=$(((seed * 1103515245 + 12345) % 2147483648))
  R=0
  [ "$1" -lt 1 ] || R=$(((seed / 65536) % $1))
}

# mutate IN OUT [SPAN]: OUT is IN with one mutation: cut short, a byte
# changed, a line dropped or doubled, a number made huge, negative or zero;
# cuts and changed bytes fall in the first SPAN bytes (default: anywhere)
mutate() {
  local size
  size=${3:-$(stat -c %s "$1")}
  rnd 6
  case $R in
  0) rnd "$size"; head -c "$R" "$1" >"$2" ;;
  1)
    rnd "$size"
    local at=$R
    rnd 12
    local c=(':' '{' '}' '[' ']' '-' ' ' $'\n' '\t' 'x' '9' '\xff')
    { head -c "$at" "$1"; printf "${c[$R]}"; tail -c +$((at + 2)) "$1"; } >"$2"
    ;;
  2) rnd "$(wc -l <"$1")"; sed "$((R + 1))d" "$1" >"$2" ;;
  3) rnd "$(wc -l <"$1")"; sed "$((R + 1))p" "$1" >"$2" ;;
  4)
    rnd 4
    local nums=(-1 0 99999999999999999999 3.5)
    rnd2=${nums[$R]}
    rnd 3
    sed "s/[0-9][0-9]*/$rnd2/$((R + 1))" "$1" >"$2"
    ;;
  5) rnd "$size"; { head -c "$R" "$1"; printf '\x00\x01"\x7f,]'; } >"$2" ;;
  esac
}

# ---- the files: two small models, their weights, inputs ----
cp "$here/small_mlp.yaml" "$tmp/mlp.yaml"
cp "$here/make_x.yaml" "$tmp/make_x.yaml"
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
quiet "$SEQC" run "$tmp/make_x.yaml" --random-weights 1 --random-input 7 --output "$tmp/x.st"
quiet "$TOOLS/stgen" "$tmp/w.st" fc1.weight=16x8 fc1.bias=16 y.weight=4x16 y.bias=4
quiet "$TOOLS/stgen" "$tmp/lmw.st" embed.weight=20x8 head.weight=20x8 head.bias=20
printf 'seqc: 1\nname: mk\ndims: {B: 1, T: 3}\ninputs:\n  tokens: {dtype: i64, shape: [B, T]}\n%b' \
  'outputs: [tokens]\nnodes: {}\n' >"$tmp/make_tok.yaml"
quiet "$SEQC" run "$tmp/make_tok.yaml" --random-weights 1 --random-input 3 --output "$tmp/tok.st"
quiet "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/m.so" --emit shared

# ---- mutated models: every command that reads one ----
for k in $(seq 1 40); do
  m=$tmp/mm$k.yaml
  mutate "$tmp/mlp.yaml" "$m"
  try "$SEQC" check "$m"
  try "$SEQC" run "$m" --random-weights 1 --random-input 1 --interpret
  [ $((k % 4)) = 0 ] && try "$SEQC" graph "$m" --after lowered
  [ $((k % 4)) = 1 ] && try "$SEQC" analyze "$m"
  [ $((k % 4)) = 2 ] && try "$SEQC" ir "$m" --print-after infer_shapes
done
for k in $(seq 1 15); do
  m=$tmp/ml$k.yaml
  mutate "$tmp/lm.yaml" "$m"
  try "$SEQC" check "$m"
  try "$SEQC" generate "$m" --random-weights 1 --prompt "1 2 3" --max-new-tokens 2
done

# ---- mutated weights and inputs: every reader ----
# header FILE: the length of FILE's 8-byte length and JSON header, where
# mutations find the most to break (odd ones fall anywhere)
header() { echo $((8 + $(od -An -t u8 -N 8 "$1"))); }
for k in $(seq 1 30); do
  span=(); [ $((k % 2)) = 0 ] || span=(header)
  mutate "$tmp/w.st" "$tmp/bw$k.st" ${span:+$(header "$tmp/w.st")}
  mutate "$tmp/x.st" "$tmp/bx$k.st" ${span:+$(header "$tmp/x.st")}
  mutate "$tmp/tok.st" "$tmp/bt$k.st" ${span:+$(header "$tmp/tok.st")}
  try "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/bw$k.st" --input "$tmp/x.st"
  try "$SEQC" run "$tmp/mlp.yaml" --random-weights 1 --input "$tmp/bx$k.st"
  try "$SEQC" run "$tmp/mlp.yaml" --weights "$tmp/bw$k.st" --input "$tmp/bx$k.st" --interpret
  try "$RT/seqrt-run" "$tmp/m.so" --weights "$tmp/bw$k.st" --input "$tmp/bx$k.st"
  try "$SEQC" generate "$tmp/lm.yaml" --weights "$tmp/lmw.st" --input "$tmp/bt$k.st" \
    --max-new-tokens 2
  [ $((k % 3)) = 0 ] && try "$SEQC" bench "$tmp/mlp.yaml" --input "$tmp/bx$k.st" --iters 1
  [ $((k % 3)) = 1 ] && try "$SEQC" compile "$tmp/mlp.yaml" -o "$tmp/e.o" \
    --embed-weights "$tmp/bw$k.st"
done

# ---- argument lists: missing, bad and unknown values, files that are not ----
mlp=$tmp/mlp.yaml
while IFS= read -r line; do
  eval "args=($line)"
  try "${args[@]}"
done <<EOF
"$SEQC"
"$SEQC" frob
"$SEQC" help frob
"$SEQC" check
"$SEQC" check "$tmp"
"$SEQC" check /dev/null
"$SEQC" check "$tmp/x.st"
"$SEQC" check "$mlp" --dim
"$SEQC" check "$mlp" --dim B=
"$SEQC" check "$mlp" --dim B=-1
"$SEQC" check "$mlp" --dim B=99999999999999999999
"$SEQC" ir "$mlp" --print-after frob
"$SEQC" ir "$mlp" --print-after
"$SEQC" graph "$mlp" --after frob
"$SEQC" graph "$mlp" -o "$tmp/no/g.dot"
"$SEQC" analyze "$mlp" --measure x
"$SEQC" analyze "$mlp" --measure 0,-3
"$SEQC" run "$mlp"
"$SEQC" run "$mlp" --random-weights x --random-input 1
"$SEQC" run "$mlp" --weights "$tmp" --random-input 1
"$SEQC" run "$mlp" --weights /dev/null --random-input 1
"$SEQC" run "$mlp" --random-weights 1 --input "$tmp/nope.st"
"$SEQC" run "$mlp" --random-weights 1 --input "$mlp"
"$SEQC" run "$mlp" --random-weights 1 --input "$tmp/x.st" --output "$tmp/o.frob"
"$SEQC" run "$mlp" --random-weights 1 --input "$tmp/x.st" --output /dev/full
"$SEQC" run "$mlp" --random-weights 1 --random-input 1 --threads -1
"$SEQC" run "$mlp" --random-weights 1 --random-input 1 --unroll 999
"$SEQC" run "$mlp" --random-weights 1 --random-input 1 --dim B=0
"$SEQC" bench "$mlp" --iters x
"$SEQC" bench "$mlp" --iters 0
"$SEQC" bench "$mlp" --input "$tmp/nope.st"
"$SEQC" compile "$mlp"
"$SEQC" compile "$mlp" -o "$tmp/a.o" --emit frob
"$SEQC" compile "$mlp" -o "$tmp/no/a.o"
"$SEQC" compile "$mlp" -o "$tmp/a.o" --embed-weights "$tmp/nope.st"
"$SEQC" generate "$mlp" --random-weights 1 --prompt "1 2"
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1 x"
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1 99"
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1" --max-new-tokens x
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1" --temperature -1
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1" --top-p 2
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1" --beams 0
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "a b" --vocab "$tmp/nope.vocab"
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "a b" --vocab "$mlp"
"$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --input "$tmp/x.st"
"$SEQC" ops frob
"$RT/seqrt-run"
"$RT/seqrt-run" "$tmp/m.so"
"$RT/seqrt-run" "$tmp/m.so" --random-weights 1
"$RT/seqrt-run" "$mlp" --random-weights 1 --input "$tmp/x.st"
"$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --output "$tmp/no/o.st"
"$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --threads x
"$RT/seqrt-run" "$tmp/m.so" --random-weights 1 --input "$tmp/x.st" --dim B
EOF

# what the hunt found beyond the format: a number past 2^63 is no number (it
# was taken as 2^63 - 1), graph's unknown pass gave its hint twice, and
# seqrt-run named the model twice
fails 2 "$SEQC" check "$mlp" --dim B=99999999999999999999
expect_first_err "seqc: error: " "--dim wants NAME=POSITIVE_INTEGER"
fails 2 "$RT/seqrt-run" "$tmp/m.so" --random-weights 99999999999999999999 --input "$tmp/x.st"
expect_first_err "seqrt-run: error: " "--random-weights"
fails 2 "$SEQC" generate "$tmp/lm.yaml" --random-weights 1 --prompt "1 99999999999999999999"
expect_first_err "seqc: error: " "--prompt wants token ids"
fails 1 "$RT/seqrt-run" "$mlp" --random-weights 1 --input "$tmp/x.st"
expect_first_err "seqrt-run: error: $mlp: " "cannot load: [^/]*$" # the path once
fails 2 "$SEQC" graph "$mlp" --after frob
expect_first_err "seqc: error: " "unknown pass 'frob' \(passes: decompose .*, or lowered\)$"
hints=$(grep -c 'seqc graph --help' <<<"$ERR")
expect_that "graph's hint is given $hints times, not once: $ERR" [ "$hints" = 1 ]

finish

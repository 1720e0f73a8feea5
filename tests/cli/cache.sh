#!/usr/bin/env bash
# The compile cache from the command line. Every model of models/ run twice
# with SEQC_CACHE_DIR: the first run writes two entries (the module's, keyed
# by its bitcode, and the whole model's, keyed by the YAML text and the
# dims), the second loads the whole model's without building the module
# (run --verbose says so, and it adds none) and both write the same bits. A
# model whose text changes but not its graph (a comment) misses the whole
# model's entry and hits the module's; other dims miss both. A bench on an empty cache is a miss, the next one a hit;
# `seqc compile` hits too (--verbose says so) and writes the same object.
# --no-cache and SEQC_NO_CACHE=1 leave the directory as it was (not a file
# added, not an mtime touched); two `seqc run` at once on an empty cache both
# succeed, agree, and leave one entry and no temporary file; a cache that
# cannot be written is one warning and a normal run; the default directory is
# $XDG_CACHE_HOME/seqc, else ~/.cache/seqc.
# Needs $SEQC, $SRC and $TOOLS.
. "$(dirname "${BASH_SOURCE[0]}")/../tools/check.sh"
: "${SEQC:?}" "${SRC:?}" "${TOOLS:?}"
export SEQC_CACHE_DIR=$tmp/cache
unset SEQC_NO_CACHE SEQC_CACHE_MAX_MB

entries() { find "$1" -name '*.entry' 2>/dev/null | wc -l; }
# the directory's files with sizes and mtimes to the nanosecond
snapshot() { find "$1" -type f -printf '%P %s %T@\n' 2>/dev/null | sort; }

nmodels=0
for yaml in "$SRC"/models/*.yaml; do
  m=$(basename "$yaml" .yaml)
  nmodels=$((nmodels + 1))
  # small dims keep it quick; models without such a dim ignore it
  dims=()
  dimline=$(sed -n 's/^dims: *{\(.*\)}/\1/p' "$yaml")
  for d in T:13 S:11 B:2; do
    case ",$dimline" in *[\ ,]${d%%:*}:*) dims+=(--dim "${d%%:*}=${d##*:}") ;; esac
  done
  before=$(entries "$SEQC_CACHE_DIR")
  run=("$SEQC" run "$yaml" --random-weights 5 --random-input 6 --threads 1 "${dims[@]}")
  quiet "${run[@]}" --output "$tmp/$m.cold.st"
  expect_that "$m: the first run wrote not two entries" \
    [ "$(entries "$SEQC_CACHE_DIR")" = $((before + 2)) ]
  succeeds "${run[@]}" --output "$tmp/$m.warm.st" --verbose
  expect_no_out
  expect_err_re '^seqc: compile: .*LLVM IR 0.0 ms, LLVM optimization 0.0 ms, machine code 0.0 ms, cache .* \(hit, whole model\)'
  expect_that "$m: a hit added an entry" [ "$(entries "$SEQC_CACHE_DIR")" = $((before + 2)) ]
  expect_that "$m: a hit and a miss wrote different bytes" cmp -s "$tmp/$m.cold.st" "$tmp/$m.warm.st"
done
expect_that "only $nmodels models in $SRC/models, want more than 10" [ "$nmodels" -gt 10 ]

# the whole model's key is the text and the dims: a comment misses it (and
# the module's entry hits), other dims miss both; the bits stay right
cp "$SRC/models/lstm.yaml" "$tmp/lstm_edit.yaml"
echo "# a comment changes the text, not the graph" >>"$tmp/lstm_edit.yaml"
before=$(entries "$SEQC_CACHE_DIR")
succeeds "$SEQC" run "$tmp/lstm_edit.yaml" --random-weights 5 --random-input 6 --threads 1 \
  --dim T=13 --dim B=2 --output "$tmp/edit.st" --verbose
expect_err '(hit)'
expect_that "a comment: not one entry more" [ "$(entries "$SEQC_CACHE_DIR")" = $((before + 1)) ]
expect_that "a comment changed the bits" cmp -s "$tmp/edit.st" "$tmp/lstm.cold.st"
succeeds "$SEQC" run "$SRC/models/lstm.yaml" --random-weights 5 --random-input 6 --threads 1 \
  --dim T=14 --dim B=2 --output "$tmp/t14.st" --verbose
expect_err '(miss)'

# bench: a miss on an empty cache, then a hit; the stages add up to a compile
lstm=$SRC/models/lstm.yaml
SEQC_CACHE_DIR=$tmp/b succeeds "$SEQC" bench "$lstm" --json --iters 1 --threads 1
expect_out '"cache_hit": false'
expect_out_re '"llvm_opt": [1-9]'
SEQC_CACHE_DIR=$tmp/b succeeds "$SEQC" bench "$lstm" --json --iters 1 --threads 1
expect_out '"cache_hit": true, "model_hit": true'
expect_out '"llvm_ir": 0.000, "llvm_opt": 0.000, "machine_code": 0.000'

# compile: the second object comes from the cache, the same bytes
SEQC_CACHE_DIR=$tmp/c succeeds "$SEQC" compile "$lstm" -o "$tmp/a.o" --verbose
expect_err_re 'seqc: compile: frontend .* LLVM optimization [0-9.]+ ms, machine code .*\(miss\)'
SEQC_CACHE_DIR=$tmp/c succeeds "$SEQC" compile "$lstm" -o "$tmp/b.o" --verbose
expect_err 'LLVM optimization 0.0 ms, machine code 0.0 ms'
expect_err '(hit)'
expect_that "a cached object differs" cmp -s "$tmp/a.o" "$tmp/b.o"
expect_that "compile wrote not one entry" [ "$(entries "$tmp/c")" = 1 ]

# --no-cache, SEQC_NO_CACHE=1: neither read (no mtime touched) nor written
mlp=$SRC/models/mlp.yaml
snap=$(snapshot "$SEQC_CACHE_DIR")
sleep 0.05 # a touch would show in the mtimes
quiet "$SEQC" run "$lstm" --random-weights 5 --random-input 6 --threads 1 --dim T=13 --dim B=2 \
  --no-cache --output "$tmp/nc.st"
expect_that "--no-cache gave other bits" cmp -s "$tmp/nc.st" "$tmp/lstm.cold.st"
quiet "$SEQC" run "$mlp" --random-weights 5 --random-input 6 --dim B=3 --no-cache \
  --output "$tmp/nc2.st"
SEQC_NO_CACHE=1 quiet "$SEQC" run "$mlp" --random-weights 5 --random-input 6 --dim B=3 \
  --output "$tmp/nc3.st"
succeeds "$SEQC" bench "$mlp" --json --iters 1 --threads 1 --dim B=3 --no-cache
expect_out '"cache_hit": false'
quiet "$SEQC" compile "$mlp" -o "$tmp/nc.o" --no-cache
expect_that "--no-cache changed the cache" [ "$(snapshot "$SEQC_CACHE_DIR")" = "$snap" ]

# two processes fill an empty cache at once: both succeed and agree, two
# entries (the module's and the whole model's)
pids=()
for i in 1 2; do
  SEQC_CACHE_DIR=$tmp/par "$SEQC" run "$SRC/models/gru.yaml" --random-weights 5 --random-input 6 \
    --threads 1 --output "$tmp/par$i.st" >"$tmp/par$i.out" 2>&1 &
  pids+=($!)
done
wait "${pids[0]}"
s1=$?
wait "${pids[1]}"
s2=$?
expect_that "the first of two at once failed: $(cat "$tmp/par1.out")" [ "$s1" = 0 ]
expect_that "the second of two at once failed: $(cat "$tmp/par2.out")" [ "$s2" = 0 ]
expect_that "two at once disagree" cmp -s "$tmp/par1.st" "$tmp/par2.st"
expect_that "two at once left not two entries" [ "$(entries "$tmp/par")" = 2 ]
expect_that "two at once left temporary files" [ -z "$(find "$tmp/par" -name '.tmp-*')" ]

# a cache that cannot be written: one warning, and the model runs
touch "$tmp/file"
SEQC_CACHE_DIR=$tmp/file/sub succeeds "$SEQC" run "$lstm" --random-weights 5 --random-input 6 \
  --threads 1 --dim T=13 --dim B=2 --output "$tmp/bad.st"
expect_first_err "seqc: warning: compile cache: cannot create $tmp/file/sub"
expect_that "more than one warning: $ERR" [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ]
expect_that "a run without a writable cache gave other bits" cmp -s "$tmp/bad.st" "$tmp/lstm.cold.st"

# where the cache is by default
quiet env -u SEQC_CACHE_DIR XDG_CACHE_HOME="$tmp/xdg" "$SEQC" run "$mlp" --random-weights 5 \
  --random-input 6 --output "$tmp/xdg.st"
expect_that "no entries under \$XDG_CACHE_HOME/seqc" [ "$(entries "$tmp/xdg/seqc")" = 2 ]
quiet env -u SEQC_CACHE_DIR -u XDG_CACHE_HOME HOME="$tmp/home" "$SEQC" run "$mlp" \
  --random-weights 5 --random-input 6 --output "$tmp/home.st"
expect_that "no entries under ~/.cache/seqc" [ "$(entries "$tmp/home/.cache/seqc")" = 2 ]
finish

#!/usr/bin/env bash
# Token generation: `seqc generate` beside PyTorch eager with a key/value cache
# and ONNX Runtime (node) running the model exported with past/present keys and
# values, on the gpt workload's model (models/gpt_decoder.yaml: 4 pre-norm
# causal layers, d_model 256, 4 heads, ff 1024, gelu, vocab 8000), all three on
# the same weights:
#
#   bash bench/bench_generate.sh        # a few minutes; rows in bench/out/generate-STAMP.jsonl
#
# - the weights: written once by PyTorch from seed 0 (torch_generate.py weights)
#   into a safetensors file that seqc reads with --weights and the peers load;
#   the ONNX model is exported from them (torch_generate.py export).
# - decode: a fixed prompt of PROMPT tokens (128), then NEW new tokens (128),
#   greedy, at batch 1 and 8, THREADS threads; each side's prefill ms (the
#   first step: the prompt and the first choice) and ms per new token (the mean
#   of the later steps), best of REPEATS runs. The new tokens of every run are
#   checked against seqc's.
# - positions: prefill P (128, 512, 1024) then POS_NEW (16) new tokens at batch
#   1: the per-token time at position P. The model runs from a copy of
#   models/gpt_decoder.yaml whose cache holds 2048 positions (1024 + 16 do not
#   fit in 1024); nothing else changes.
# - bandwidth: bench/bandwidth.c (copy and read of a buffer, best of several)
#   at 1 and 2 threads, on a buffer of the weights' size and one of 1 GB, and
#   the model's weight bytes, so that a decode step compares with the time to
#   stream the weights once.
#
# Peers: torch_eager_cat (HF's DynamicCache: torch.cat per layer each step) and
# torch_eager_static (HF's StaticCache: buffers allocated once), both with
# OpenBLAS and tcmalloc picked per process as bench/peers does; ort_node
# (onnxruntime-node from bench/peers/node_modules, which this script fills by
# `bench/peers/setup.sh npm` (npm ci of the pinned version) when it is not
# there). A peer that fails writes a row with its error and the script goes on.
# The plot, bench/out/generate-STAMP.png: ms per new token at each batch, and
# against the prompt's length.
#
# Each run of a peer or of seqc stops after ROW_TIMEOUT_S seconds.
# The machine is shared: before each run the script waits (QUIET_WAIT_S, 5 s
# at most) until no other process is runnable, and each row records the load
# average; compare rows taken at a low load.
# Knobs: SEQC (default build/cli/seqc), THREADS (2), REPEATS (3), PROMPT (128),
# NEW (128), BATCHES ("1 8"), POSITIONS ("128 512 1024"), POS_NEW (16),
# PEERS ("torch_eager_cat torch_eager_static ort_node"), ROW_TIMEOUT_S (600),
# PEERS_DIR (bench/peers).
set -uo pipefail
BENCH=generate
REPEATS=${REPEATS:-3}
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PROMPT=${PROMPT:-128}
NEW=${NEW:-128}
BATCHES=${BATCHES:-"1 8"}
POSITIONS=${POSITIONS:-"128 512 1024"}
POS_NEW=${POS_NEW:-16}
PEERS=${PEERS:-"torch_eager_cat torch_eager_static ort_node"}
ROW_TIMEOUT_S=${ROW_TIMEOUT_S:-600}
work=$root/bench/out/generate-work
mkdir -p "$work"
TG=$root/bench/torch_generate.py

# torch with OpenBLAS and tcmalloc: common.sh's torch_env
tpy() { timeout "$ROW_TIMEOUT_S" "${torch_env[@]}" "$PY" "$TG" "$@"; }

# wait_quiet: until no process but this one is runnable (the 4th field of
# /proc/loadavg counts the reader too), QUIET_WAIT_S seconds at most (said once)
busy_said=0
wait_quiet() {
  local i
  for ((i = 0; i < ${QUIET_WAIT_S:-5} * 4; i++)); do
    [ "$(cut -d' ' -f4 /proc/loadavg | cut -d/ -f1)" -le 1 ] && return 0
    sleep 0.25
  done
  [ $busy_said = 1 ] && return 0
  busy_said=1
  log "the machine is busy ($(cut -d' ' -f1-4 /proc/loadavg)): measuring anyway; compare the load column"
}

# grow WHO KEY=VALUE... -- CMD...: runs CMD (a command or a function); its last
# JSON line, tagged with WHO, the KEY=VALUEs and the load average, goes to
# $out; when it printed none, a row with the error (CMD's last stderr line)
grow() {
  local who=$1 extra="" line errf outf err rc load
  shift
  while [ "$1" != -- ]; do extra="$extra\"${1%%=*}\": ${1#*=}, "; shift; done
  shift
  errf=$(mktemp)
  outf=$(mktemp)
  wait_quiet
  "$@" >"$outf" 2>"$errf"
  rc=$?
  line=$(grep '^{' "$outf" | tail -n 1)
  load=$(cut -d' ' -f1 /proc/loadavg)
  rm -f "$outf"
  if [ -z "$line" ]; then
    [ $rc = 124 ] && echo "timed out after $ROW_TIMEOUT_S s (ROW_TIMEOUT_S)" >>"$errf"
    err=$(grep -v '^\s*$' "$errf" | tail -n 1 | head -c 300 | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read().strip() or "no output"))')
    log "$who ($extra) failed: $err"
    printf '{"who": "%s", %s"load": %s, "error": %s}\n' "$who" "$extra" "$load" "$err" >>"$out"
  else
    # the tags first; the command's own keys after them, less those the tags gave
    printf '%s\n' "$line" | "$PY" -c 'import json, sys
row = {"who": sys.argv[1], **json.loads("{" + sys.argv[2] + "\"load\": " + sys.argv[3] + "}")}
for k, v in json.loads(sys.stdin.read()).items():
    row.setdefault(k, v)
print(json.dumps(row))' "$who" "$extra" "$load" >>"$out"
  fi
  rm -f "$errf"
}

# seqc_gen B P N TOKENS_JSON: `seqc generate` on the prompt file of B x P,
# N new tokens; prints its timing line as JSON and writes the new tokens
seqc_gen() {
  local b=$1 p=$2 n=$3 tokf=$4 err rc
  err=$(mktemp)
  timeout "$ROW_TIMEOUT_S" "$SEQC" generate "$model" --weights "$work/weights.safetensors" \
    --input "$work/prompt-$b-$p.safetensors" --max-new-tokens "$n" \
    --threads "$THREADS" --dim T=$((p + n)) --output "$work/seqc-out.safetensors" \
    >/dev/null 2>"$err"
  rc=$?
  if [ $rc != 0 ]; then cat "$err" >&2; rm -f "$err"; return $rc; fi
  "$PY" "$TG" tokens "$work/seqc-out.safetensors" "$tokf" --prompt "$p" || return 1
  # seqc: prefill 12.3 ms (1 x 5 tokens), 1.234 ms per new token, 810.4 tokens/s
  sed -n 's/^seqc: prefill \([0-9.]*\) ms .*, \([0-9.]*\) ms per new token, \([0-9.]*\) tokens\/s.*/{"prefill_ms": \1, "ms_per_token": \2, "tokens_per_s": \3, "threads": '"$THREADS"'}/p' "$err"
  rm -f "$err"
}

# the model: models/gpt_decoder.yaml with a cache of 2048 positions
model=$work/gpt_generate.yaml
sed 's/cache: 1024}/cache: 2048}/' "$root/models/gpt_decoder.yaml" >"$model"
grep -q 'cache: 2048}' "$model" || { log "models/gpt_decoder.yaml has no 'cache: 1024}' to widen"; exit 1; }

log "weights, prompts and the ONNX export (PyTorch) in $work"
grow model -- tpy weights "$work/weights.safetensors"
[ -s "$work/weights.safetensors" ] || { log "no weights: torch failed"; exit 1; }
grow torch_check -- tpy check "$work/weights.safetensors"
for b in $BATCHES; do "$PY" "$TG" prompt "$work/prompt-$b-$PROMPT.safetensors" --batch "$b" --len "$PROMPT"; done
for p in $POSITIONS; do "$PY" "$TG" prompt "$work/prompt-1-$p.safetensors" --batch 1 --len "$p"; done
rm -f "$work/model.onnx"
grow ort_export -- tpy export "$work/weights.safetensors" "$work/model.onnx"

# onnxruntime-node: the peers' install (bench/peers/node_modules)
ortdir=$PEERS_DIR
if [[ " $PEERS " == *" ort_node "* ]] && [ ! -f "$ortdir/node_modules/onnxruntime-node/package.json" ]; then
  bash "$PEERS_DIR/setup.sh" npm || log "no onnxruntime-node in $ortdir: the ort_node rows will fail"
fi
ort_gen() { timeout "$ROW_TIMEOUT_S" node "$root/bench/ort_generate.js" "$work/model.onnx" --ort "$ortdir" --threads "$THREADS" "$@"; }

# bandwidth
bw=$work/bandwidth
if cc -O2 -march=native -fopenmp -Wall "$root/bench/bandwidth.c" -o "$bw"; then
  for t in 1 2; do
    grow bandwidth "size=\"weights\"" -- "$bw" "$t" 32 50
    grow bandwidth "size=\"dram\"" -- "$bw" "$t" 1024 5
  done
else
  log "cannot compile bench/bandwidth.c"
fi

# run_all PASS KIND B P N: every side once at batch B, prompt P, N new tokens;
# each run's tokens in a file of its own (PASS in its name), which the row names
run_all() {
  local r=$1 kind=$2 b=$3 p=$4 n=$5 tag
  tag=(kind="\"$kind\"" batch="$b" prompt="$p" new="$n")
  rm -f "$work"/*-"$kind-$b-$p-$r.json"
  if [ -x "$SEQC" ]; then
    grow seqc "${tag[@]}" tokens_file="\"seqc-$kind-$b-$p-$r.json\"" -- seqc_gen "$b" "$p" "$n" "$work/seqc-$kind-$b-$p-$r.json"
  fi
  for peer in $PEERS; do
    local tokf=$work/$peer-$kind-$b-$p-$r.json
    case $peer in
      torch_eager_cat | torch_eager_static)
        grow "$peer" "${tag[@]}" tokens_file="\"${tokf##*/}\"" -- tpy bench "$work/weights.safetensors" \
          --batch "$b" --prompt "$p" --new "$n" --threads "$THREADS" --cache "${peer#torch_eager_}" \
          --tokens-out "$tokf" ;;
      ort_node)
        if [ ! -s "$work/model.onnx" ]; then
          grow ort_node "${tag[@]}" -- sh -c 'echo "no ONNX model: the export failed (see the ort_export row)" >&2; exit 1'
        else
          grow ort_node "${tag[@]}" tokens_file="\"${tokf##*/}\"" -- ort_gen --batch "$b" --prompt "$p" --new "$n" --tokens-out "$tokf"
        fi ;;
      *) log "unknown peer $peer" ;;
    esac
  done
}

[ -x "$SEQC" ] || log "no seqc at $SEQC (build it, or set SEQC): the peers only"
for r in $(seq "$REPEATS"); do
  for b in $BATCHES; do
    log "pass $r: decode, batch $b, prompt $PROMPT, $NEW new tokens"
    run_all "$r" decode "$b" "$PROMPT" "$NEW"
  done
  for p in $POSITIONS; do
    log "pass $r: position $p, batch 1, $POS_NEW new tokens"
    run_all "$r" position 1 "$p" "$POS_NEW"
  done
done

THREADS=$THREADS report "$out" "$work" "$png" <<'PY'
import json, os, sys
import plot
out, work = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(out) if l.strip()]

def tokens(r):
    f = r.get("tokens_file")
    if not f or not os.path.exists(os.path.join(work, f)):
        return None
    return json.load(open(os.path.join(work, f)))

# each (who, kind, batch, prompt): the run with the lowest ms per token, or its error
best = {}
for r in rows:
    if "kind" not in r:
        continue
    k = (r["who"], r["kind"], r["batch"], r["prompt"])
    ok = r.get("ms_per_token") is not None
    if k not in best or (ok and (best[k].get("ms_per_token") is None or
                                 r["ms_per_token"] < best[k]["ms_per_token"])):
        best[k] = r
# the tokens of seqc's best run, to check the others' against
def match(r, mine):
    if not mine or mine.get("ms_per_token") is None:
        return "?"
    a, b = tokens(r), tokens(mine)
    if a is None or b is None:
        return "?"
    if a == b:
        return "same"
    for i, (x, y) in enumerate(zip(a, b)):
        for j, (u, v) in enumerate(zip(x, y)):
            if u != v:
                return f"row {i} step {j}"
    return "differ"

model = next((r for r in rows if r["who"] == "model"), {})
bw = [r for r in rows if r["who"] == "bandwidth" and r.get("read_gbs")]
check = next((r for r in rows if r["who"] == "torch_check"), {})
export = next((r for r in rows if r["who"] == "ort_export"), {})
whos = []
for r in rows:
    if "kind" in r and r["who"] not in whos:
        whos.append(r["who"])

print(f"gpt_decoder (4 layers, d 256, vocab 8000), greedy, threads {os.environ['THREADS']}, "
      "best of each side's runs")
print(f"{'kind':9} {'B':>2} {'P':>5} {'N':>4} {'who':19} {'ms/token':>9} {'prefill ms':>10} "
      f"{'tok/tok':>8} {'pre/pre':>8} {'tokens':>12} {'load':>5}")
for kind, b, p in sorted({(k[1], k[2], k[3]) for k in best}, key=lambda x: (x[0], x[1], x[2])):
    mine = best.get(("seqc", kind, b, p))
    for who in whos:
        r = best.get((who, kind, b, p))
        if not r:
            continue
        if r.get("ms_per_token") is None:
            print(f"{kind:9} {b:2} {p:5} {r['new']:4} {who:19} failed: {r.get('error')}")
            continue
        rt = rp = ""
        if mine and r is not mine and mine.get("ms_per_token"):
            rt = f"{r['ms_per_token'] / mine['ms_per_token']:.2f}x"
            rp = f"{r['prefill_ms'] / mine['prefill_ms']:.2f}x"
        same = "" if r is mine else match(r, mine)
        print(f"{kind:9} {b:2} {p:5} {r['new']:4} {who:19} {r['ms_per_token']:9.3f} "
              f"{r['prefill_ms']:10.2f} {rt:>8} {rp:>8} {same:>12} {r.get('load', 0):5.2f}")
print("(tok/tok, pre/pre: the peer's ms per token and prefill over seqc's, > 1: seqc is faster;")
print(" tokens: the peer's new tokens against seqc's, or where they first differ; load: 1-minute load average)")
if check:
    err = max(check.get("max_abs_err_cat", 1), check.get("max_abs_err_static", 1))
    print(f"torch cached steps against nn.TransformerEncoder run whole: max abs err {err:.3g}"
          + ("" if err < 1e-3 else f"  FAILED: torch_generate.py is not the model "
             f"({check.get('error', '')})"))
if export.get("error"):
    print(f"ONNX export failed: {export['error']}")
if model.get("weight_bytes"):
    print(f"weights: {model['weight_bytes'] / 1e6:.1f} MB, of which a decode step reads "
          f"{model['step_bytes'] / 1e6:.1f} MB (one row of the embedding)")
for r in bw:
    print(f"bandwidth, {r['threads']} thread(s), {r['buffer_mb']} MB buffers ({r['size']}): "
          f"copy {r['copy_gbs']:.1f} GB/s (read + written), read {r['read_gbs']:.1f} GB/s")
if bw and model.get("step_bytes"):
    mine = [r for k, r in sorted(best.items(), key=lambda kv: kv[0][2])
            if k[0] == "seqc" and k[1] == "decode" and r.get("ms_per_token")]
    for size, what in (("weights", "from cache, a buffer of the weights' size"),
                       ("dram", "from memory, 1 GB")):
        top = max((r["read_gbs"] for r in bw if r["size"] == size), default=None)
        if top:
            print(f"streaming a step's weights once at the best read rate {what} "
                  f"({top:.1f} GB/s): {model['step_bytes'] / top / 1e6:.3f} ms")
    for r in mine:
        print(f"seqc decode step at batch {r['batch']}: {r['ms_per_token']:.3f} ms")
# the plot: ms per token at each batch (decode), and against the position (position)
ms = lambda who, kind, b, p: (best.get((who, kind, b, p)) or {}).get("ms_per_token")
decode = sorted({(k[2], k[3]) for k in best if k[1] == "decode"})
position = sorted({k[3] for k in best if k[1] == "position"})
print(plot.save(sys.argv[3], f"gpt_decoder, greedy, {os.environ['THREADS']} threads", [
    plot.bars("decode: ms per new token (lower is faster)", "ms per token",
              [(f"B {b}, prompt {p}", {who: ms(who, "decode", b, p) for who in whos})
               for b, p in decode]),
    plot.lines("ms per new token against the prompt's length, B 1", "prompt tokens",
               "ms per token", {who: [(p, ms(who, "position", 1, p)) for p in position]
                                for who in whos}, logx=True)]))
print(f"(rows in {out})")
PY

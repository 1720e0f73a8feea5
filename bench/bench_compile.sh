#!/usr/bin/env bash
# Compile time (issue 18): how long a user waits before a model runs.
#
#   bash bench/bench_compile.sh     # a few minutes; rows in bench/out/compile-STAMP.jsonl,
#                                   # the plot in bench/out/compile-STAMP.png
#
# - models: every models/*.yaml and bench/*.yaml at its default dims: `seqc
#   bench M --json --threads THREADS --iters ITERS` twice on one empty
#   compile cache (SEQC_CACHE_DIR, a fresh folder): cold (nothing cached)
#   and warm (the second compile of the same model), each row with
#   compile_ms beside the run's median_ms (and cache_hit, kernels when this
#   seqc reports them).
# - layers: models/bert_encoder.yaml with num_layers 2, 6, 12 and 24, cold
#   and warm: compile_ms against the layer count, plotted (PNG, by
#   bench/plot.py, beside the cold and warm compile of every model). With kernels shared
#   across layers (codegen/kernel_fn.c) the line is nearly flat.
# - OLD_SEQC (optional): another seqc binary (the build before a change)
#   whose cold compiles are measured in the same run, beside this one's.
#
# Knobs: SEQC (default build/cli/seqc), OLD_SEQC, THREADS (2), ITERS (5),
# LAYERS ("2 6 12 24"). The machine is shared: compare rows of one run.
set -uo pipefail
BENCH=compile
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ITERS=${ITERS:-5}
LAYERS=${LAYERS:-"2 6 12 24"}
OLD_SEQC=${OLD_SEQC:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# measure WHO SEQC YAML CACHE_DIR KIND: one bench row tagged with WHO and KIND
measure() {
  local who=$1 bin=$2 yaml=$3 cache=$4 kind=$5
  row "$who" env SEQC_CACHE_DIR="$cache" "$bin" bench "$yaml" --json --threads "$THREADS" \
    --iters "$ITERS"
  # tag the row just written with what was measured
  "$PY" - "$out" "$kind" "$(basename "$yaml" .yaml)" <<'PY'
import json, sys
path, kind, model = sys.argv[1:4]
lines = open(path).read().splitlines()
if lines and '"kind"' not in lines[-1]:
    r = json.loads(lines[-1]); r["kind"] = kind; r["model"] = model
    lines[-1] = json.dumps(r)
    open(path, "w").write("\n".join(lines) + "\n")
PY
}

# cold_warm YAML: this seqc cold then warm on a fresh cache, and OLD_SEQC cold
cold_warm() {
  local yaml=$1 cache
  cache=$work/cache-$(basename "$yaml" .yaml)
  mkdir -p "$cache" "$cache-old"
  measure seqc "$SEQC" "$yaml" "$cache" cold
  measure seqc "$SEQC" "$yaml" "$cache" warm
  [ -z "$OLD_SEQC" ] || measure old "$OLD_SEQC" "$yaml" "$cache-old" cold
}

for yaml in "$root"/models/*.yaml "$root"/bench/*.yaml; do
  log "$(basename "$yaml" .yaml)"
  cold_warm "$yaml"
done

for n in $LAYERS; do
  yaml=$work/encoder_$n.yaml
  sed "s/num_layers: [0-9]*/num_layers: $n/" "$root/models/bert_encoder.yaml" >"$yaml"
  log "encoder, $n layers"
  cold_warm "$yaml"
done

report "$out" "$png" "$THREADS" <<'PY'
import json, sys
import plot
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def get(who, model, kind):
    for r in rows:
        if r["who"] == who and r.get("model") == model and r.get("kind") == kind:
            return r
    return None
models = []
for r in rows:
    if r.get("model") not in models:
        models.append(r.get("model"))
print(f"{'model':24} {'cold ms':>9} {'warm ms':>9} {'old cold':>9} {'run ms':>9} {'hit':>5} {'kernels':>7}")
for m in models:
    c, w, o = get("seqc", m, "cold"), get("seqc", m, "warm"), get("old", m, "cold")
    f = lambda r, k: f"{r[k]:.1f}" if r and r.get(k) is not None else "-"
    hit = str(w.get("cache_hit", "-")) if w else "-"
    print(f"{m:24} {f(c, 'compile_ms'):>9} {f(w, 'compile_ms'):>9} {f(o, 'compile_ms'):>9} "
          f"{f(c, 'median_ms'):>9} {hit:>5} {str(c.get('kernels', '-')) if c else '-':>7}")
# the encoder's line over its layer count, and every model's bars
series = {}
for who, kind, name in (("seqc", "cold", "seqc cold"), ("seqc", "warm", "seqc warm"),
                        ("old", "cold", "old seqc cold")):
    pts = [(int(m.split("_")[1]), get(who, m, kind)) for m in models if m and m.startswith("encoder_")]
    series[name] = [(n, r["compile_ms"]) for n, r in pts if r and r.get("compile_ms") is not None]
    if not series[name]:
        del series[name]
bars = [(m, {name: r["compile_ms"] for who, kind, name in (("seqc", "cold", "seqc cold"),
                                                             ("seqc", "warm", "seqc warm"),
                                                             ("old", "cold", "old seqc cold"))
             for r in [get(who, m, kind)] if r and r.get("compile_ms") is not None})
        for m in models if m and not m.startswith("encoder_")]
print(plot.save(sys.argv[2], f"compile time, {sys.argv[3]} threads", [
    plot.lines("bert_encoder: compile ms against layers", "layers", "compile ms", series),
    plot.bars("compile ms per model", "compile ms", bars)]))
PY
log "rows in $out"

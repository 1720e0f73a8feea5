#!/usr/bin/env bash
# Long context (issue 20, SPEC 10): Memformer, Transformer-XL at two memory
# lengths and a plain causal Transformer, all of one size (d_model 256, 4
# layers, 4 heads, feed-forward 1024, batch 1), at T = 1024, 4096, 16384 and
# 65536, seqc beside PyTorch eager, 2 threads, in one run:
#
#   bash bench/bench_longctx.sh       # under 10 minutes on a quiet machine (estimated; 46 under load 5-10)
#   LENGTHS="1024 4096" bash bench/bench_longctx.sh   # a quick one
#
# The models (one YAML each, the length is the dim L):
#   memformer     bench/memformer.yaml: memformer_encoder, 32 slots, segments of 64
#   xl            bench/xl.yaml: transformer_xl, segments of 64, mem_len 64
#   xl_mem256     bench/xl_mem256.yaml: the same with mem_len 256
#   plain_causal  bench/plain_causal.yaml: transformer_encoder, causal: true, over all of T
# PyTorch runs the reference modules (bench/torch_longctx.py): Memformer as an
# nn.Module checked against tests/golden/ref_longctx.py, Transformer-XL as
# kimiyoung/transformer-xl's own forward (the goldens' port), the plain one as
# nn.TransformerEncoder with a causal mask. First, per model, seqc runs on the
# torch module's own weights and input (L = CHECK_LEN) and its outputs must
# match torch's (SPEC 8's tolerance); the timed runs then draw random weights
# on each side (seqc bench has no --weights; the values do not change the work).
#
# Per model and T: seqc's median (`seqc bench --iters ITERS`, after its 3
# warm-up runs), torch's median (a warm-up on the first 1024 positions, then
# 1 to 3 runs within 2 s), torch/seqc (> 1: seqc is faster); memory: the peak
# RSS of the process that runs the model (ru_maxrss, as GNU time's %M: seqc's
# includes its runtime, the parameters, the input and the arena; torch's its
# ~250 MB baseline), the input and outputs (io), peak RSS beyond them, and
# seqc's session (arena plus parameters). seqc's timed process loads the
# compiled model from the compile cache, which a `seqc run` at the same dims
# fills first, so LLVM's compile memory is not in its peak (a row marked
# "compiled" compiled anyway). Then the growth exponents of time and memory
# over T (log-log slope from the first length to the last: 1 is linear, 0
# flat), and the seed's claim on seqc: Memformer against Transformer-XL
# (mem_len 64 and 256) at equal size, as ratios.
#
# The plain Transformer is quadratic: a length is skipped (and the table says
# why) when its memory would exceed MEM_CAP_MB (torch: the [T, T] scores per
# head, softmax and mask, estimated; seqc: its own --max-memory refuses), or
# when its runs, extrapolated quadratically from the length before, would take
# more than PLAIN_TIME_CAP_S seconds per side.
#
# The plot, bench/out/longctx-STAMP.png: time, peak RSS and peak RSS beyond the
# input and outputs against T, every model on both sides, log axes.
# Knobs: SEQC, THREADS (2), REPEATS (1), LENGTHS ("1024 4096 16384 65536"),
# MODELS ("memformer xl xl_mem256 plain_causal"), ITERS (seqc's timed runs:
# 3, 1 from T = 65536), MEM_CAP_MB (6144), PLAIN_TIME_CAP_S (60), CHECK_LEN (512),
# TORCH_BLAS, TORCH_MALLOC (bench/common.sh).
set -uo pipefail
BENCH=longctx
REPEATS=${REPEATS:-1}
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LENGTHS=$(printf '%s\n' ${LENGTHS:-1024 4096 16384 65536} | sort -n | tr '\n' ' ')
MODELS=${MODELS:-"memformer xl xl_mem256 plain_causal"}
MEM_CAP_MB=${MEM_CAP_MB:-6144}
PLAIN_TIME_CAP_S=${PLAIN_TIME_CAP_S:-60}
CHECK_LEN=${CHECK_LEN:-512}
work=$BENCH_OUT/longctx-work
mkdir -p "$work"
started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

[ -x "$SEQC" ] || { log "no seqc at $SEQC (bash scripts/build.sh)"; exit 1; }
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) (the numbers mean little when it is high)"
"${torch_env[@]}" "$PY" "$root/bench/torch_longctx.py" --check --dim L=128 --min-iters 1 \
  --max-iters 1 >/dev/null || { log "the torch module does not match the reference"; exit 1; }

# skip NAME REASON: a row that says why NAME did not run
skip() {
  log "$1 skipped: $2"
  printf '{"who": "%s", "skipped": "%s"}\n' "$1" "$2" >>"$out"
}

# field NAME KEY: KEY of NAME's last row in $out, empty if none
field() {
  "$PY" - "$out" "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
vals = [r[sys.argv[3]] for r in rows if r["who"] == sys.argv[2] and sys.argv[3] in r]
print(vals[-1] if vals else "")
PY
}

# the same weights on both sides, and each model's parameter bytes
for m in $MODELS; do
  log "$m: seqc on torch's weights and input, L=$CHECK_LEN ($(elapsed))"
  row "${m}_same" "${torch_env[@]}" "$PY" "$root/bench/torch_longctx.py" --model \
    "$root/bench/$m.yaml" --dim "L=$CHECK_LEN" --threads "$THREADS" --against "$SEQC" \
    --work "$work"
  case $(field "${m}_same" ok) in
    True) ;;
    False) log "$m: seqc and torch DIFFER on the same weights (the table's heading says how)" ;;
    *) log "$m: the same-weights check did not run" ;;
  esac
  params=$("$SEQC" check "$root/bench/$m.yaml" | sed -n 's/^parameters: \([0-9]*\).*/\1/p')
  printf '{"who": "%s_params", "params": %s}\n' "$m" "${params:-null}" >>"$out"
done

# quadratic_s NAME T RUNS: the seconds RUNS runs of NAME at T would take,
# extrapolated as T^2 from NAME's row at the largest length measured before T
quadratic_s() {
  local prev="" L ms
  for L in $LENGTHS; do
    [ "$L" -lt "$2" ] && [ -n "$(field "${1}_$L" median_ms)" ] && prev=$L
  done
  [ -z "$prev" ] && { echo 0; return; }
  ms=$(field "${1}_$prev" median_ms)
  "$PY" -c "print(int($ms * ($2 / $prev) ** 2 * $3 / 1000))"
}

n=0
total=$(($(wc -w <<<"$LENGTHS") * $(wc -w <<<"$MODELS") * 2 * REPEATS))
for L in $LENGTHS; do
  iters=${ITERS:-$([ "$L" -ge 65536 ] && echo 1 || echo 3)}
  for m in $MODELS; do
    yaml=$root/bench/$m.yaml
    for _ in $(seq "$REPEATS"); do
      # seqc: a `seqc run` fills the compile cache, then the timed process
      n=$((n + 1))
      log "($n/$total) $m seqc L=$L ($(elapsed))"
      est=0
      [ "$m" = plain_causal ] && est=$(quadratic_s "${m}_seqc" "$L" $((iters + 4)))
      if [ "$est" -gt "$PLAIN_TIME_CAP_S" ]; then
        skip "${m}_seqc_$L" "its runs would take about $est s (T^2 from the length before; PLAIN_TIME_CAP_S=$PLAIN_TIME_CAP_S)"
      elif ! err=$("$SEQC" run "$yaml" --dim "L=$L" --threads "$THREADS" --random-weights 1 \
        --random-input 1 --max-memory "${MEM_CAP_MB}M" 2>&1 >/dev/null); then
        skip "${m}_seqc_$L" "$(tail -n 1 <<<"$err" | tr -d '"')"
      else
        row "${m}_seqc_$L" "$SEQC" bench "$yaml" --dim "L=$L" --threads "$THREADS" --json \
          --iters "$iters" --max-memory "${MEM_CAP_MB}M"
      fi
      # torch
      n=$((n + 1))
      log "($n/$total) $m torch L=$L ($(elapsed))"
      if [ "$m" = plain_causal ]; then
        # per layer: [4, T, T] scores and their softmax, a [T, T] mask, and
        # torch's 250 MB baseline
        mb=$(((36 * L * L >> 20) + 300))
        est=$(quadratic_s "${m}_torch" "$L" 2)
        if [ "$mb" -gt "$MEM_CAP_MB" ]; then
          skip "${m}_torch_$L" "needs about $mb MB ([4, T, T] scores, softmax and mask; MEM_CAP_MB=$MEM_CAP_MB)"
          continue
        elif [ "$est" -gt "$PLAIN_TIME_CAP_S" ]; then
          skip "${m}_torch_$L" "its runs would take about $est s (T^2 from the length before; PLAIN_TIME_CAP_S=$PLAIN_TIME_CAP_S)"
          continue
        fi
      fi
      row "${m}_torch_$L" "${torch_env[@]}" "$PY" "$root/bench/torch_longctx.py" --model "$yaml" \
        --dim "L=$L" --threads "$THREADS"
    done
  done
done
log "measured in $(elapsed); load average now $(cut -d' ' -f1-3 /proc/loadavg)"

report "$out" "$LENGTHS" "$MODELS" "$png" "$THREADS" <<'PY'
import json, math, sys
import plot
from rows import read_best
rows, best = read_best(sys.argv[1])
lengths = [int(x) for x in sys.argv[2].split()]
models = sys.argv[3].split()
png, threads = sys.argv[4], sys.argv[5]
LABEL = {"memformer": "memformer", "xl": "xl m64", "xl_mem256": "xl m256",
         "plain_causal": "plain causal"}
last = {}  # the last row of each who: the checks, the parameters, the skips
for r in rows:
    last[r["who"]] = r
MB = 2**20
nan = float("nan")


def get(model, side, L):
    return best.get("%s_%s_%d" % (model, side, L))


def io_mb(model, L):
    """the input and outputs of one run: x and y [1, L, 256], Memformer's 32 slots"""
    return (2 * L * 256 + (32 * 256 if model == "memformer" else 0)) * 4 / MB


def mem(model, side, L, what):
    r = get(model, side, L)
    if not r:
        return None
    if what == "rss":
        return r["peak_rss_mb"]
    if what == "beyond":  # peak RSS beyond the input and outputs
        return r["peak_rss_mb"] - io_mb(model, L)
    if what == "session":  # seqc: arena plus parameters
        p = last.get(model + "_params", {}).get("params")
        return r["arena_mb"] + p * 4 / MB if p else None


def slope(pts):
    pts = [(L, y) for L, y in pts if y and y > 0]
    if len(pts) < 2:
        return nan
    (a, ya), (b, yb) = pts[0], pts[-1]
    return math.log(yb / ya) / math.log(b / a)


def f(v, fmt="%.1f"):
    return fmt % v if v is not None and not (isinstance(v, float) and math.isnan(v)) else "-"


print()
print("long context: d_model 256, 4 layers, 4 heads, B 1, %s threads" % threads)
for m in models:
    same = last.get(m + "_same", {})
    check = ("same weights: max |seqc - torch| %.2g, %s" % (same["max_abs_err"],
             "ok" if same.get("ok") else "DIFFERENT") if "max_abs_err" in same
             else "same weights: " + same.get("error", "no check"))
    print("\n== %s (%s)" % (m, check))
    print("%6s %10s %10s %7s | %9s %9s %7s %9s %9s %9s" % (
        "T", "seqc ms", "torch ms", "t/s", "seqc RSS", "torch RSS", "io MB", "seqc -io",
        "torch -io", "seqc ses"))
    for L in lengths:
        s, t = get(m, "seqc", L), get(m, "torch", L)
        print("%6d %10s %10s %7s | %9s %9s %7.1f %9s %9s %9s%s" % (
            L, f(s and s["median_ms"], "%.1f"), f(t and t["median_ms"], "%.1f"),
            f(t["median_ms"] / s["median_ms"] if s and t else None, "%.2f"),
            f(mem(m, "seqc", L, "rss")), f(mem(m, "torch", L, "rss")), io_mb(m, L),
            f(mem(m, "seqc", L, "beyond")), f(mem(m, "torch", L, "beyond")),
            f(mem(m, "seqc", L, "session")),
            "  (compiled)" if s and not s.get("model_hit") else ""))
        for side in ("seqc", "torch"):
            k = "%s_%s_%d" % (m, side, L)
            if k not in best:
                print("%6s %s: %s" % ("", side, last.get(k, {}).get("skipped", "failed (see the log)")))
    ex = lambda side, what: slope([(L, (get(m, side, L) or {}).get("median_ms") if what == "time"
                                    else mem(m, side, L, what)) for L in lengths])
    e = lambda side, what: f(ex(side, what), "%.2f")
    print("growth exponents over T: time seqc %s, torch %s; peak RSS seqc %s, torch %s;"
          % (e("seqc", "time"), e("torch", "time"), e("seqc", "rss"), e("torch", "rss")))
    print("  beyond io seqc %s, torch %s; seqc session %s" % (
        e("seqc", "beyond"), e("torch", "beyond"), e("seqc", "session")))
    ratios = [get(m, "torch", L)["median_ms"] / get(m, "seqc", L)["median_ms"] for L in lengths
              if get(m, "seqc", L) and get(m, "torch", L)]
    if ratios:
        print("torch/seqc from %.2f to %.2f (the issue's aim: at least 3)" % (min(ratios),
                                                                           max(ratios)))
print("""
columns: t/s = torch ms / seqc ms (> 1: seqc is faster); RSS = the process's peak
resident MB; io = the input and outputs; -io = peak RSS beyond them; ses = seqc's
session (arena + parameters). Exponents: log-log slope from the first T to the last
measured (1 linear, 0 flat; the issue's aim for the segment models: time 1,
memory beyond the input and outputs 0).""")

# the seed's claim (Memformer's paper: 3.2x faster, 8.1x less memory than its
# baseline), on seqc: Transformer-XL / Memformer at equal size
for xl in ("xl", "xl_mem256"):
    if "memformer" not in models or xl not in models:
        continue
    print("\n== %s / memformer on seqc (> 1: Memformer faster or smaller)" % LABEL[xl])
    print("%6s %8s %10s %10s %12s" % ("T", "time", "peak RSS", "beyond io", "session"))
    for L in lengths:
        r = lambda what: (mem(xl, "seqc", L, what) / mem("memformer", "seqc", L, what)
                          if mem(xl, "seqc", L, what) and mem("memformer", "seqc", L, what)
                          else None)
        s, x = get("memformer", "seqc", L), get(xl, "seqc", L)
        print("%6d %8s %10s %10s %12s" % (
            L, f(x["median_ms"] / s["median_ms"] if s and x else None, "%.2f"),
            f(r("rss"), "%.2f"), f(r("beyond"), "%.2f"), f(r("session"), "%.2f")))

panels = []
for title, ylabel, value in (
        ("median ms against T", "median ms", lambda m, side, L: (get(m, side, L) or {}).get("median_ms")),
        ("peak RSS against T", "MB", lambda m, side, L: mem(m, side, L, "rss")),
        ("peak RSS beyond the input and outputs", "MB", lambda m, side, L: mem(m, side, L, "beyond"))):
    series = {}
    for side in ("seqc", "torch"):
        for m in models:
            series["%s %s" % (side, LABEL.get(m, m))] = [(L, value(m, side, L)) for L in lengths]
    panels.append(plot.lines(title, "T (tokens)", ylabel, series, logx=True, logy=True))
print()
print(plot.save(png, "long context: d_model 256, 4 layers, 4 heads, B 1, %s threads" % threads,
                panels))
PY

// bench/peers/bench_ort.js: the ONNX Runtime peer, through the npm package
// onnxruntime-node (CPU EP; setup.sh runs `npm ci` into bench/peers/node_modules).
//
//   node bench/peers/bench_ort.js WORKLOAD [--threads 2] [--budget 1.0] [--min-iters 5]
//                     [--max-iters 1000] [--warmup 3] [--opt all|extended|basic|disabled]
//
// Reads bench/out/peers/artifacts/WORKLOAD/{model.onnx,x.bin,y.bin,meta.json}
// written by prepare.py (workloads.ARTIFACTS). Session: intraOpNumThreads=threads,
// interOpNumThreads=1, sequential execution, graphOptimizationLevel=all, CPU EP,
// memory arena on.
// Timed region: one `await session.run(feeds)` (includes the binding's
// output-tensor hand-back to JS).  Prints one JSON line on stdout;
// peak_rss_mb is process.resourceUsage().maxRSS after the timed loop and
// base_rss_mb the mark right after loading the runtime.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function pct(s, q) {
  if (s.length === 1) return s[0];
  const pos = (s.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function readF32(p) {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

const rssMb = () => process.resourceUsage().maxRSS / 1024;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const argv = process.argv.slice(2);
  const name = argv[0];
  const opt = { threads: 2, budget: 1.0, 'min-iters': 5, 'max-iters': 1000,
                warmup: 3, opt: 'all' };
  for (let i = 1; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in opt)) throw new Error(`unknown option ${argv[i]}`);
    opt[k] = k === 'opt' ? argv[i + 1] : Number(argv[i + 1]);
  }
  const base = rssMb();
  const dir = path.join(__dirname, '..', 'out', 'peers', 'artifacts', name);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json')));
  if (meta.onnx !== 'ok') throw new Error(`no ONNX model: ${meta.onnx}`);
  const t0 = nowMs();
  const sess = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opt.opt,
    enableCpuMemArena: true,
  });
  const createMs = nowMs() - t0;
  const x = new ort.Tensor('float32', readF32(path.join(dir, 'x.bin')), meta.x_shape);
  const feeds = { [sess.inputNames[0]]: x };
  const yref = readF32(path.join(dir, 'y.bin'));

  let out;
  const w0 = nowMs();
  for (let i = 0; i < opt.warmup || nowMs() - w0 < 100; i++) {
    out = await sess.run(feeds);
  }
  const y = out[sess.outputNames[0]].data;
  let err = 0;
  if (y.length !== yref.length) err = Infinity;
  else for (let i = 0; i < y.length; i++) {
    const e = Math.abs(y[i] - yref[i]);
    if (!(e <= err)) err = e; // also catches NaN
  }

  const ts = [];
  const start = nowMs();
  while (ts.length < opt['max-iters'] &&
         (ts.length < opt['min-iters'] || nowMs() - start < opt.budget * 1000)) {
    const a = process.hrtime.bigint();
    await sess.run(feeds);
    ts.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  ts.sort((a, b) => a - b);
  const med = pct(ts, 50);
  const r4 = (v) => Math.round(v * 1e4) / 1e4;
  console.log(JSON.stringify({
    workload: name, peer: 'ort_node', median_ms: r4(med), p10_ms: r4(pct(ts, 10)),
    p90_ms: r4(pct(ts, 90)), peak_rss_mb: Math.round(rssMb() * 10) / 10,
    gflops: Math.round(meta.flops / med / 1e4) / 100, flops: meta.flops,
    iters: ts.length, base_rss_mb: Math.round(base * 10) / 10,
    threads: opt.threads, max_abs_err: err, session_create_ms: r4(createMs),
    opt_level: opt.opt, ort: ort.env.versions.node,
  }));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });

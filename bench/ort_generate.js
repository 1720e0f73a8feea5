// bench/ort_generate.js: the ONNX Runtime side of bench/bench_generate.sh.
//
//   node ort_generate.js MODEL.onnx --ort DIR [--batch 1] [--prompt 128] [--new 128]
//                        [--threads 2] [--warmup 1] [--tokens-out FILE]
//
// MODEL.onnx is the decoder step that `torch_generate.py export` writes, the
// way ONNX Runtime GenAI's models are exported: inputs `tokens` i64 [B, T] and
// past_{key,value}_L [B, H, Tp, Dh]; outputs `logits` [B, T, V] and
// present_{key,value}_L (past and new). DIR holds node_modules/onnxruntime-node
// (bench/peers/node_modules, which bench/peers/setup.sh fills). The session is set
// up as bench/peers/bench_ort.js does: CPU EP, intraOpNumThreads, sequential,
// graphOptimizationLevel all, memory arena on.
//
// The decode loop, in JS: the prompt with empty pasts (Tp = 0) once, then one
// token per step, each step's presents fed back as the next step's pasts;
// greedy (the largest logit of each row's last position, the lowest id on
// ties). The prompt is torch_generate.py's prompt_tokens: row b, position t
// holds (t * 131 + b * 977 + 7) mod V. Prints one JSON line: prefill_ms (the
// first step, choice included), ms_per_token (the mean of the later steps).
'use strict';
const fs = require('fs');
const path = require('path');

const LAYERS = 4, HEADS = 4, DH = 64;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

function greedy(logits, B, T, V) {
  const out = new BigInt64Array(B);
  for (let b = 0; b < B; b++) {
    const base = (b * T + T - 1) * V;
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[base + i] > logits[base + best]) best = i;
    out[b] = BigInt(best);
  }
  return out;
}

async function main() {
  const argv = process.argv.slice(2);
  const model = argv[0];
  const opt = { ort: '', batch: 1, prompt: 128, new: 128, threads: 2, warmup: 1,
                'tokens-out': '' };
  for (let i = 1; i + 1 < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in opt)) throw new Error(`unknown option ${argv[i]}`);
    opt[k] = typeof opt[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  const ort = require(path.resolve(opt.ort, 'node_modules', 'onnxruntime-node'));
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
  });
  const B = opt.batch, P = opt.prompt;
  const prompt = new BigInt64Array(B * P);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < P; t++) prompt[b * P + t] = BigInt((t * 131 + b * 977 + 7) % 8000);

  async function generate() {
    const feeds = { tokens: new ort.Tensor('int64', prompt, [B, P]) };
    for (let l = 0; l < LAYERS; l++)
      for (const kv of ['key', 'value'])
        feeds[`past_${kv}_${l}`] = new ort.Tensor('float32', new Float32Array(0), [B, HEADS, 0, DH]);
    const times = [], tokens = [];
    for (let s = 0; s < opt.new; s++) {
      const a = nowMs();
      const out = await sess.run(feeds);
      const lg = out.logits;
      const next = greedy(lg.data, B, lg.dims[1], lg.dims[2]);
      times.push(nowMs() - a);
      tokens.push(next);
      feeds.tokens = new ort.Tensor('int64', next, [B, 1]);
      for (let l = 0; l < LAYERS; l++)
        for (const kv of ['key', 'value'])
          feeds[`past_${kv}_${l}`] = out[`present_${kv}_${l}`];
    }
    return { times, tokens };
  }
  if (opt.warmup) await generate();
  const { times, tokens } = await generate();
  const later = times.slice(1);
  const r4 = (v) => Math.round(v * 1e4) / 1e4;
  if (opt['tokens-out']) {
    const rows = [];
    for (let b = 0; b < B; b++) rows.push(tokens.map((t) => Number(t[b])));
    fs.writeFileSync(opt['tokens-out'], JSON.stringify(rows));
  }
  console.log(JSON.stringify({
    batch: B, prompt: P, new: opt.new, prefill_ms: r4(times[0]),
    ms_per_token: r4(later.reduce((x, y) => x + y, 0) / Math.max(later.length, 1)),
    threads: opt.threads, ort: ort.env.versions.node,
  }));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });

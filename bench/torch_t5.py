#!/usr/bin/python3
"""bench/torch_t5.py: the PyTorch side of bench/bench_t5.sh.

The model is models/t5_small_like.yaml (T5-small's shape: 6 + 6 layers,
d_model 512, 8 heads of 64, gated-gelu 2048, vocabulary 32128), run as
tests/golden/ref_t5.py's port of Hugging Face's T5 (the goldens' reference)
in float32 eager: the shared embedding, the encoder and decoder T5Stacks,
a bias-free lm_head.

    torch_t5.py weights OUT.safetensors [--seed 0]
        random weights under the model's parameter names (shared.weight,
        encoder.*, decoder.*, lm_head.weight; T5's initialisation sizes)
    torch_t5.py source OUT.safetensors --batch B --len S
        a fixed source: src i32 [B, S], row b position t holding
        (t * 131 + b * 977 + 7) mod 32128, and the prompt tgt [B, 1] of zeros
        (T5's decoder start token)
    torch_t5.py check W.safetensors
        decoding with the key/value cache against the decoder run whole
    torch_t5.py encoder W.safetensors --batch B --len S [--threads 2] [--budget 1.0]
        the embedding and the encoder on the source, timed; one JSON line:
        median_ms, p10_ms, p90_ms, iters
    torch_t5.py generate W.safetensors --batch B --len S --new N [--threads 2]
                         [--tokens-out F]
        greedy decoding as Hugging Face's generate does with its cache: the
        first step encodes the source and runs the decoder on the start
        token, each later step runs the decoder on one token with the kept
        self-attention keys and values (grown by torch.cat, HF's
        DynamicCache) and the cross-attention's computed once; one JSON
        line: prefill_ms (the first step), ms_per_token (the mean of the
        later steps), as `seqc generate` times them, after one untimed
        generation
    torch_t5.py tokens GENERATED.safetensors OUT.json
        the new tokens of `seqc generate --output` as JSON [B, N]

inference_mode, set_num_threads; the BLAS and the allocator come from
LD_LIBRARY_PATH / LD_PRELOAD as the caller sets them (bench/common.sh's
torch_env: OpenBLAS and tcmalloc, as bench/peers does).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import gen  # noqa: E402  (the safetensors reader and writer)
import ref_t5  # noqa: E402

MODEL = os.path.join(ROOT, "models", "t5_small_like.yaml")


class T5(nn.Module):
    """models/t5_small_like.yaml as modules named like its nodes"""

    def __init__(self, path=MODEL):
        super().__init__()
        with open(path) as f:
            nodes = yaml.safe_load(f)["nodes"]
        V, D = nodes["shared"]["num_embeddings"], nodes["shared"]["embedding_dim"]
        self.shared = nn.Embedding(V, D)
        self.encoder = ref_t5.T5Stack(ref_t5.Config.from_node(nodes["encoder"], D, False))
        self.decoder = ref_t5.T5Stack(ref_t5.Config.from_node(nodes["decoder"], D, True))
        self.lm_head = nn.Linear(D, nodes["lm_head"]["out_features"], bias=False)

    def encode(self, src):
        return self.encoder(self.shared(src))[0]

    def decode(self, tgt, memory, past=None):
        """logits [B, T, V] of tgt after the kept positions, and the cache"""
        y, past = self.decoder(self.shared(tgt), memory, past)
        return self.lm_head(y), past


def load(path):
    m = T5().eval()
    m.load_state_dict(gen.read_safetensors(path))
    return m


def source(batch, length, vocab=32128):
    t = torch.arange(length)[None, :]
    b = torch.arange(batch)[:, None]
    return ((t * 131 + b * 977 + 7) % vocab).to(torch.int32)


def cmd_weights(a):
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    m = T5()
    D = m.shared.embedding_dim
    with torch.no_grad():
        m.shared.weight.copy_(torch.randn(m.shared.weight.shape, generator=g))
        m.lm_head.weight.copy_(torch.randn(m.lm_head.weight.shape, generator=g) * D ** -0.5)
    ref_t5.init_like_hf(m.encoder, g)
    ref_t5.init_like_hf(m.decoder, g)
    sd = m.state_dict()
    gen.write_safetensors(a.out, sd)
    n = sum(t.numel() for t in sd.values())
    print(json.dumps({"params": n, "weight_bytes": 4 * n}))


def cmd_source(a):
    gen.write_safetensors(a.out, {"src": source(a.batch, a.len),
                                  "tgt": torch.zeros(a.batch, 1, dtype=torch.int32)})


def greedy(logits):
    return logits[:, -1, :].argmax(dim=-1, keepdim=True)  # the first maximum: lowest id


def cmd_check(a):
    """8 tokens decoded with the cache against the decoder run whole on them"""
    m = load(a.weights)
    src = source(2, 40).long()
    with torch.inference_mode():
        memory = m.encode(src)
        feed, past, toks, parts = torch.zeros(2, 1, dtype=torch.long), None, [], []
        for _ in range(8):
            toks.append(feed)
            logits, past = m.decode(feed, memory, past)
            parts.append(logits)
            feed = greedy(logits)
        whole, _ = m.decode(torch.cat(toks, 1), memory)
    err = (torch.cat(parts, 1) - whole).abs().max().item()
    print(json.dumps({"max_abs_err": err, "logit_scale": whole.abs().max().item()}))
    if not err < 1e-3:
        sys.exit("torch_t5.py: the cached decoder differs from the whole run")


def cmd_encoder(a):
    torch.set_num_threads(a.threads)
    m = load(a.weights)
    src = source(a.batch, a.len).long()
    times = []
    with torch.inference_mode():
        m.encode(src)  # warm-up
        t0 = time.perf_counter()
        while len(times) < a.min_iters or time.perf_counter() - t0 < a.budget:
            t = time.perf_counter()
            m.encode(src)
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]  # noqa: E731
    print(json.dumps({"median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9),
                      "iters": len(times), "batch": a.batch, "len": a.len,
                      "threads": a.threads, "torch": torch.__version__,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "blas": blas_name(), "malloc": malloc_name()}))


def cmd_generate(a):
    torch.set_num_threads(a.threads)
    m = load(a.weights)
    src = source(a.batch, a.len).long()

    def run_once():
        times, toks = [], []
        feed, past, memory = torch.zeros(a.batch, 1, dtype=torch.long), None, None
        for _ in range(a.new):
            t0 = time.perf_counter()
            if memory is None:  # the first step: the source, then the start token
                memory = m.encode(src)
            logits, past = m.decode(feed, memory, past)
            feed = greedy(logits)
            times.append((time.perf_counter() - t0) * 1e3)
            toks.append(feed)
        return times, torch.cat(toks, 1)

    with torch.inference_mode():
        run_once()  # the first generation allocates and chooses kernels
        times, toks = run_once()
    later = times[1:]
    row = {"batch": a.batch, "len": a.len, "new": a.new, "prefill_ms": round(times[0], 4),
           "ms_per_token": round(sum(later) / max(len(later), 1), 4), "threads": a.threads,
           "torch": torch.__version__, "blas": blas_name(), "malloc": malloc_name()}
    if a.tokens_out:
        with open(a.tokens_out, "w") as f:
            json.dump(toks.tolist(), f)
        row["tokens_file"] = os.path.basename(a.tokens_out)
    print(json.dumps(row))


def cmd_tokens(a):
    """seqc generate --output's tokens [B, 1+N] -> the new ones [B, N] as JSON"""
    toks = gen.read_safetensors(a.generated)["tokens"][:, 1:]
    with open(a.out, "w") as f:
        json.dump(toks.tolist(), f)


def blas_name():
    return "openblas" if "openblas" in open("/proc/self/maps").read() else "default"


def malloc_name():
    return "tcmalloc" if "tcmalloc" in open("/proc/self/maps").read() else "glibc"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("weights")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("source")
    p.add_argument("out")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--len", type=int, default=512)
    p = sub.add_parser("check")
    p.add_argument("weights")
    for name in ("encoder", "generate"):
        p = sub.add_parser(name)
        p.add_argument("weights")
        p.add_argument("--batch", type=int, default=1)
        p.add_argument("--len", type=int, default=512)
        p.add_argument("--threads", type=int, default=2)
        if name == "encoder":
            p.add_argument("--budget", type=float, default=1.0)
            p.add_argument("--min-iters", type=int, default=3)
        else:
            p.add_argument("--new", type=int, default=64)
            p.add_argument("--tokens-out", help="write the new tokens [B, N] as JSON here")
    p = sub.add_parser("tokens")
    p.add_argument("generated")
    p.add_argument("out")
    a = ap.parse_args()
    {"weights": cmd_weights, "source": cmd_source, "check": cmd_check, "encoder": cmd_encoder,
     "generate": cmd_generate, "tokens": cmd_tokens}[a.cmd](a)


if __name__ == "__main__":
    main()

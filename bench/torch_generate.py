"""bench/torch_generate.py: the PyTorch side of bench/bench_generate.sh.

The model is models/gpt_decoder.yaml (bench/gpt_generate.yaml: the same model
with a longer cache): token embeddings plus sinusoidal positions, 4 pre-norm
causal nn.TransformerEncoderLayer(256, 4, 1024, gelu), a final LayerNorm and a
bias-free head to 8000 logits.

    torch_generate.py weights OUT.safetensors [--seed 0]
        the weights, seqc's parameter names (a ModuleDict's state_dict), each
        layer initialised on its own, as bench/peers does; prints the weight bytes
    torch_generate.py prompt OUT.safetensors --batch B --len P
        a fixed prompt: i32 tokens [B, P] under the name `tokens`
    torch_generate.py check W.safetensors
        the hand-written cached step against nn.TransformerEncoder run whole
    torch_generate.py export W.safetensors OUT.onnx
        the step model with past key/value inputs and present outputs (the way
        ONNX Runtime GenAI's models are exported), for bench/ort_generate.js
    torch_generate.py tokens GENERATED.safetensors OUT.json --prompt P
        the new tokens of `seqc generate --output` as JSON [B, N]
    torch_generate.py bench W.safetensors --batch B --prompt P --new N
                      [--threads 2] [--cache cat|static] [--tokens-out F]
        greedy decoding with a key/value cache, one JSON line on stdout

The decode loop is Hugging Face's: the prompt runs once (prefill), then one
token per step, each layer's keys and values kept; `cat` grows them by
torch.cat every step (HF's DynamicCache), `static` writes them into buffers
allocated once (HF's StaticCache). Timing matches `seqc generate`'s line:
prefill is the first step (the prompt and the first choice), ms per new token
the mean of the later steps. inference_mode, set_num_threads; the BLAS and
the allocator come from LD_LIBRARY_PATH / LD_PRELOAD as the caller sets them
(bench_generate.sh: OpenBLAS and tcmalloc, as bench/peers does).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, D, HEADS, FF, LAYERS = 8000, 256, 4, 1024, 4
DH = D // HEADS


def build(seed):
    """The model as torch modules named like seqc's parameters."""
    torch.manual_seed(seed)
    layers = [nn.TransformerEncoderLayer(D, HEADS, FF, 0.0, "gelu", batch_first=True,
                                         norm_first=True) for _ in range(LAYERS)]
    blocks = nn.TransformerEncoder(layers[0], LAYERS, norm=nn.LayerNorm(D),
                                   enable_nested_tensor=False)
    blocks.layers = nn.ModuleList(layers)  # independent inits, not deep copies of one
    return nn.ModuleDict({"embed": nn.Embedding(VOCAB, D), "blocks": blocks,
                          "head": nn.Linear(D, VOCAB, bias=False)}).eval()


# safetensors by hand: an 8-byte header length, a JSON header, the raw data
DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}
NAMES = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = bytearray(data[8 + n + a:8 + n + b])
        t = torch.frombuffer(buf, dtype=NAMES[info["dtype"]]) if buf else \
            torch.zeros(0, dtype=NAMES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def prompt_tokens(batch, length):
    """A fixed prompt: row b, position t holds (t * 131 + b * 977 + 7) mod VOCAB."""
    t = torch.arange(length)[None, :]
    b = torch.arange(batch)[:, None]
    return ((t * 131 + b * 977 + 7) % VOCAB).to(torch.int32)


def sinusoidal(start, length):
    """PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(...), pos from start."""
    pos = torch.arange(length, dtype=torch.float32)[:, None] + start
    div = torch.exp(torch.arange(0, D, 2, dtype=torch.float32) * (-math.log(10000.0) / D))
    ang = pos * div
    return torch.stack([torch.sin(ang), torch.cos(ang)], dim=-1).reshape(length, D)


class Step(nn.Module):
    """One run of the decoder over T new tokens, given each layer's past keys and
    values [B, H, Tp, DH]; returns the logits [B, T, VOCAB] and the present keys
    and values (past and new, concatenated). Written with plain tensor ops so
    that torch.onnx.export traces it with T and Tp dynamic."""

    def __init__(self, sd):
        super().__init__()
        self.p = {k: v.float() for k, v in sd.items()}

    def forward(self, tokens, *past):
        p = self.p
        B, T = tokens.shape[0], tokens.shape[1]
        Tp = past[0].shape[2]
        x = F.embedding(tokens, p["embed.weight"]) + sinusoidal(Tp, T)
        # query i (position Tp + i) sees keys 0 .. Tp + i
        kpos = torch.arange(Tp + T)[None, :]
        qpos = torch.arange(T)[:, None] + Tp
        mask = torch.zeros(T, Tp + T).masked_fill(kpos > qpos, float("-inf"))
        presents = []
        for l in range(LAYERS):
            pre = f"blocks.layers.{l}."
            h = F.layer_norm(x, (D,), p[pre + "norm1.weight"], p[pre + "norm1.bias"])
            qkv = F.linear(h, p[pre + "self_attn.in_proj_weight"],
                           p[pre + "self_attn.in_proj_bias"])
            q, k, v = qkv.reshape(B, T, 3, HEADS, DH).permute(2, 0, 3, 1, 4)
            k = torch.cat([past[2 * l], k], dim=2)
            v = torch.cat([past[2 * l + 1], v], dim=2)
            presents += [k, v]
            a = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(DH) + mask, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, T, D)
            x = x + F.linear(a, p[pre + "self_attn.out_proj.weight"],
                             p[pre + "self_attn.out_proj.bias"])
            h = F.layer_norm(x, (D,), p[pre + "norm2.weight"], p[pre + "norm2.bias"])
            h = F.linear(F.gelu(F.linear(h, p[pre + "linear1.weight"], p[pre + "linear1.bias"])),
                         p[pre + "linear2.weight"], p[pre + "linear2.bias"])
            x = x + h
        x = F.layer_norm(x, (D,), p["blocks.norm.weight"], p["blocks.norm.bias"])
        return (F.linear(x, p["head.weight"]), *presents)


class StaticStep:
    """Step with the keys and values written into buffers [B, H, S, DH]
    allocated once (HF's StaticCache); attention reads the first Tp + T."""

    def __init__(self, sd, batch, size):
        self.p = {k: v.float() for k, v in sd.items()}
        self.kc = [torch.zeros(batch, HEADS, size, DH) for _ in range(LAYERS)]
        self.vc = [torch.zeros(batch, HEADS, size, DH) for _ in range(LAYERS)]
        self.pos = 0

    def __call__(self, tokens):
        p, Tp = self.p, self.pos
        B, T = tokens.shape
        x = F.embedding(tokens, p["embed.weight"]) + sinusoidal(Tp, T)
        mask = None
        if T > 1:
            mask = torch.full((T, Tp + T), float("-inf")).triu_(Tp + 1)
        for l in range(LAYERS):
            pre = f"blocks.layers.{l}."
            h = F.layer_norm(x, (D,), p[pre + "norm1.weight"], p[pre + "norm1.bias"])
            qkv = F.linear(h, p[pre + "self_attn.in_proj_weight"],
                           p[pre + "self_attn.in_proj_bias"])
            q, k, v = qkv.reshape(B, T, 3, HEADS, DH).permute(2, 0, 3, 1, 4)
            self.kc[l][:, :, Tp:Tp + T] = k
            self.vc[l][:, :, Tp:Tp + T] = v
            k, v = self.kc[l][:, :, :Tp + T], self.vc[l][:, :, :Tp + T]
            s = q @ k.transpose(2, 3) / math.sqrt(DH)
            if mask is not None:
                s = s + mask
            a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, D)
            x = x + F.linear(a, p[pre + "self_attn.out_proj.weight"],
                             p[pre + "self_attn.out_proj.bias"])
            h = F.layer_norm(x, (D,), p[pre + "norm2.weight"], p[pre + "norm2.bias"])
            h = F.linear(F.gelu(F.linear(h, p[pre + "linear1.weight"], p[pre + "linear1.bias"])),
                         p[pre + "linear2.weight"], p[pre + "linear2.bias"])
            x = x + h
        self.pos += T
        x = F.layer_norm(x, (D,), p["blocks.norm.weight"], p["blocks.norm.bias"])
        return F.linear(x, p["head.weight"])


def empty_past(batch):
    return [torch.zeros(batch, HEADS, 0, DH) for _ in range(2 * LAYERS)]


def cmd_weights(a):
    sd = build(a.seed).state_dict()
    write_safetensors(a.out, sd)
    n = sum(t.numel() for t in sd.values())
    emb = sd["embed.weight"].numel()
    print(json.dumps({"params": n, "weight_bytes": 4 * n,
                      "step_bytes": 4 * (n - emb)}))  # a step reads one row of embed


def cmd_prompt(a):
    write_safetensors(a.out, {"tokens": prompt_tokens(a.batch, a.len)})


def cmd_check(a):
    """The cached steps (both kinds) against nn.TransformerEncoder run whole."""
    sd = read_safetensors(a.weights)
    m = build(0)
    m.load_state_dict(sd)
    tok = prompt_tokens(2, 12).long()
    with torch.inference_mode():
        x = m["embed"](tok) + sinusoidal(0, 12)
        causal = torch.full((12, 12), float("-inf")).triu_(1)
        whole = m["head"](m["blocks"](x, mask=causal))
        step, st = Step(sd), StaticStep(sd, 2, 16)
        logits, *past = step(tok[:, :5], *empty_past(2))
        parts, sparts = [logits], [st(tok[:, :5])]
        for t in range(5, 12):
            logits, *past = step(tok[:, t:t + 1], *past)
            parts.append(logits)
            sparts.append(st(tok[:, t:t + 1]))
    err = (torch.cat(parts, 1) - whole).abs().max().item()
    serr = (torch.cat(sparts, 1) - whole).abs().max().item()
    print(json.dumps({"max_abs_err_cat": err, "max_abs_err_static": serr}))
    if not (err < 1e-3 and serr < 1e-3):
        sys.exit("torch_generate.py: the cached step differs from the whole run")


def cmd_export(a):
    import warnings
    sd = read_safetensors(a.weights)
    step = Step(sd)
    B = 1
    tok = prompt_tokens(B, 3).long()
    past = [torch.zeros(B, HEADS, 2, DH) for _ in range(2 * LAYERS)]
    pin = [f"past_{kv}_{l}" for l in range(LAYERS) for kv in ("key", "value")]
    pout = [f"present_{kv}_{l}" for l in range(LAYERS) for kv in ("key", "value")]
    axes = {"tokens": {0: "B", 1: "T"}, "logits": {0: "B", 1: "T"}}
    for n in pin:
        axes[n] = {0: "B", 2: "Tp"}
    for n in pout:
        axes[n] = {0: "B", 2: "Tp_plus_T"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(step, (tok, *past), a.out, input_names=["tokens"] + pin,
                          output_names=["logits"] + pout, dynamic_axes=axes,
                          opset_version=17, do_constant_folding=True)
    print(json.dumps({"onnx": a.out, "bytes": os.path.getsize(a.out)}))


def cmd_tokens(a):
    """seqc generate --output's tokens [B, P+N] -> the new ones [B, N] as JSON."""
    toks = read_safetensors(a.generated)["tokens"][:, a.prompt:]
    with open(a.out, "w") as f:
        json.dump(toks.tolist(), f)


def greedy(logits):
    return logits[:, -1, :].argmax(dim=-1, keepdim=True)  # the first maximum: lowest id


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    sd = read_safetensors(a.weights)
    prompt = prompt_tokens(a.batch, a.prompt).long()
    with torch.inference_mode():
        def run_once():
            times, toks = [], []
            if a.cache == "static":
                st = StaticStep(sd, a.batch, a.prompt + a.new)
                fn = st
            else:
                step = Step(sd)
                past = empty_past(a.batch)

                def fn(t):
                    nonlocal past
                    logits, *past = step(t, *past)
                    return logits
            feed = prompt
            for _ in range(a.new):
                t0 = time.perf_counter()
                nxt = greedy(fn(feed))
                times.append((time.perf_counter() - t0) * 1e3)
                toks.append(nxt)
                feed = nxt
            return times, torch.cat(toks, 1)
        if a.warmup:  # the first generation allocates and chooses kernels
            run_once()
        times, toks = run_once()
    prefill, later = times[0], times[1:]
    row = {"batch": a.batch, "prompt": a.prompt, "new": a.new, "cache": a.cache,
           "prefill_ms": round(prefill, 4),
           "ms_per_token": round(sum(later) / max(len(later), 1), 4),
           "threads": a.threads, "torch": torch.__version__,
           "blas": blas_name(), "malloc": malloc_name()}
    if a.tokens_out:
        with open(a.tokens_out, "w") as f:
            json.dump(toks.tolist(), f)
    print(json.dumps(row))


def blas_name():
    maps = open("/proc/self/maps").read()
    return "openblas" if "openblas" in maps else "default"


def malloc_name():
    maps = open("/proc/self/maps").read()
    return "tcmalloc" if "tcmalloc" in maps else "glibc"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("weights")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("prompt")
    p.add_argument("out")
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--len", type=int, required=True)
    p = sub.add_parser("check")
    p.add_argument("weights")
    p = sub.add_parser("export")
    p.add_argument("weights")
    p.add_argument("out")
    p = sub.add_parser("tokens")
    p.add_argument("generated")
    p.add_argument("out")
    p.add_argument("--prompt", type=int, required=True)
    p = sub.add_parser("bench")
    p.add_argument("weights")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--new", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", choices=["cat", "static"], default="cat")
    p.add_argument("--warmup", type=int, default=1, help="a whole untimed generation first")
    p.add_argument("--tokens-out", help="write the new tokens [B, N] as JSON here")
    a = ap.parse_args()
    {"weights": cmd_weights, "prompt": cmd_prompt, "check": cmd_check,
     "export": cmd_export, "tokens": cmd_tokens, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()

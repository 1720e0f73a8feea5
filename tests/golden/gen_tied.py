#!/usr/bin/python3
"""gen_tied.py: golden data for shared parameters and argmax (SPEC section 11).

    /usr/bin/python3 tests/golden/gen_tied.py           # (re)write cases/tied_*, argmax_*
    /usr/bin/python3 tests/golden/gen_tied.py --check   # re-read them and verify

Writes these cases into tests/golden/cases/ (gen.py's layout, leaving every
other case alone); tests/golden/run_golden.sh runs them like the others.

tied_gpt: a small GPT as PyTorch users write one: nn.Embedding, a causal
pre-norm nn.TransformerEncoder (gelu, final LayerNorm) and an nn.Linear head
whose weight IS the embedding's (`lm_head.weight = embed.weight`, as GPT-2
ties them). Its weights file is what `safetensors.torch.save_model(model, f)`
writes: the state_dict holds the one tensor under both names, and save_model
keeps one copy, under the name that sorts first (embed.weight), recording
{"lm_head.weight": "embed.weight"} in the header's __metadata__. There is no
safetensors package on Debian 12, so this script writes that file itself by
save_model's rule (_remove_duplicate_names: the sorted first of the names that
share a storage is kept; tensors in name order). The model's tokens are i32 in
the YAML but the input file holds what PyTorch made, i64 (seqc takes either).
Outputs: the logits and their argmax (the greedy next token, i64), from torch.

argmax_small, argmax_wide: f32 inputs of small integers (so equal values, exact
ties, are everywhere along every dim), with NaNs, -inf and +inf planted, and
argmax along the last, a middle and the first dim, with and without keepdim.
torch.argmax gives the expected indices; this script checks them against the
rule SPEC 11 states (the lowest index of the largest, NaN the largest) first.
"""
import argparse
import math
import os
import shutil
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402


# ---------------------------------------------------------------- files

def save_model_like(model, path):
    """What safetensors.torch.save_model(model, path) writes: one tensor per
    shared storage, kept under the sorted first of its names, the others
    named in __metadata__ as copies of it."""
    sd = model.state_dict()
    groups = {}
    for name, t in sd.items():
        groups.setdefault(t.data_ptr(), []).append(name)
    meta = {}
    for names in groups.values():
        kept = sorted(names)[0]
        for n in sorted(names):
            if n != kept:
                meta[n] = kept
    kept = {n: sd[n] for n in sorted(sd) if n not in meta}
    gen.write_safetensors(path, kept, meta or None)
    return kept, meta


# ------------------------------------------------------------ tied_gpt

V, E, HEADS, FF, LAYERS = 61, 16, 2, 32, 2
DIMS = {"B": 2, "T": 9}


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        layer = nn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS, norm=nn.LayerNorm(E),
                                            enable_nested_tensor=False)
        self.lm_head = nn.Linear(E, V, bias=False)
        self.lm_head.weight = self.embed.weight  # tied: one Parameter, two modules

    def forward(self, tokens):
        t = tokens.shape[1]
        causal = torch.full((t, t), float("-inf")).triu(1)
        logits = self.lm_head(self.blocks(self.embed(tokens.long()), mask=causal))
        return logits, logits.argmax(-1)


TIED_YAML = f"""\
# golden case tied_gpt: a GPT whose head shares the embedding's weight (SPEC 11)
# Written by tests/golden/gen_tied.py; do not edit.
seqc: 1
name: golden_tied_gpt
dims: {{B: {DIMS["B"]}, T: {DIMS["T"]}}}
inputs:
  tokens: {{dtype: i32, shape: [B, T]}}
outputs: [lm_head, next]
nodes:
  embed: {{op: embedding, input: tokens, num_embeddings: {V}, embedding_dim: {E}}}
  blocks: {{op: transformer_encoder, input: embed, num_layers: {LAYERS}, nhead: {HEADS},
           dim_feedforward: {FF}, activation: gelu, norm_first: true, causal: true, norm: true}}
  lm_head: {{op: linear, input: blocks, out_features: {V}, bias: false, weight: embed.weight}}
  next: {{op: argmax, input: lm_head}}
"""


def init_gpt(model, g):
    for m in model.modules():
        gen.init_trained_looking(m, g)
        if isinstance(m, nn.MultiheadAttention):
            with torch.no_grad():
                m.in_proj_weight.copy_(torch.randn(m.in_proj_weight.shape, generator=g) / E ** 0.5)
                m.in_proj_bias.copy_(torch.randn(m.in_proj_bias.shape, generator=g) * 0.1)
    # the head's logits are the embedding rows' dot products: rows of norm ~1
    with torch.no_grad():
        model.embed.weight.copy_(torch.randn(V, E, generator=g) / E ** 0.5)


def tied_gpt(d):
    g = torch.Generator().manual_seed(gen.case_seed("tied_gpt"))
    model = TinyGPT()
    init_gpt(model, g)
    model.eval()
    assert model.lm_head.weight is model.embed.weight
    tokens = torch.randint(0, V, (DIMS["B"], DIMS["T"]), generator=g)  # int64, as torch makes
    tokens.view(-1)[0], tokens.view(-1)[-1] = 0, V - 1
    with torch.no_grad():
        logits, nxt = model(tokens)
    top2 = logits.topk(2, dim=-1).values
    gap = (top2[..., 0] - top2[..., 1]).min().item()
    assert gap > 1e-3, f"tied_gpt: two logits {gap} apart: argmax would hang on rounding"
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(TIED_YAML)
    kept, meta = save_model_like(model, os.path.join(d, "weights.safetensors"))
    assert list(meta) == ["lm_head.weight"] and meta["lm_head.weight"] == "embed.weight"
    assert "lm_head.weight" not in kept and "embed.weight" in kept
    gen.write_safetensors(os.path.join(d, "input.safetensors"), {"tokens": tokens})
    gen.write_safetensors(os.path.join(d, "expected.safetensors"),
                          {"lm_head": logits, "next": nxt})


def check_tied_gpt(d):
    weights, meta = gen.read_safetensors(os.path.join(d, "weights.safetensors"), with_metadata=True)
    assert meta == {"lm_head.weight": "embed.weight"}, meta
    model = TinyGPT()
    sd = dict(weights)
    sd["lm_head.weight"] = sd[meta["lm_head.weight"]]  # as safetensors.torch.load_model does
    model.load_state_dict(sd)
    model.eval()
    inputs = gen.read_safetensors(os.path.join(d, "input.safetensors"))
    expected = gen.read_safetensors(os.path.join(d, "expected.safetensors"))
    assert inputs["tokens"].dtype == torch.int64
    with torch.no_grad():
        logits, nxt = model(inputs["tokens"])
    assert torch.equal(logits, expected["lm_head"]) and torch.equal(nxt, expected["next"])
    assert expected["next"].dtype == torch.int64


# -------------------------------------------------------------- argmax

def argmax_rule(x, dim):
    """SPEC 11 by hand: the lowest index of the largest, NaN larger than all."""
    x = x.movedim(dim, -1)
    flat = x.reshape(-1, x.shape[-1]).tolist()
    out = []
    for row in flat:
        best = 0
        for k in range(1, len(row)):
            b, v = row[best], row[k]
            if not math.isnan(b) and (math.isnan(v) or v > b):
                best = k
        out.append(best)
    return torch.tensor(out, dtype=torch.int64).reshape(x.shape[:-1])


def argmax_input(shape, g):
    """small integers (ties everywhere), NaN, +-inf, a row all -inf, -0.0 next to 0.0"""
    x = torch.randint(-2, 3, shape, generator=g).to(torch.float32)
    flat = x.view(-1)
    n = flat.numel()
    picks = torch.randperm(n, generator=g)
    for i in picks[: max(1, n // 40)]:
        flat[i] = float("nan")
    for i in picks[n // 40: n // 40 + max(1, n // 60)]:
        flat[i] = float("inf")
    for i in picks[n // 20: n // 20 + max(1, n // 30)]:
        flat[i] = float("-inf")
    rows = x.view(-1, shape[-1])
    rows[0] = float("-inf")  # all -inf: index 0
    rows[1] = 0.0
    rows[1, ::2] = -0.0  # -0 and 0 tie: index 0
    rows[2] = 1.0
    rows[2, -1] = float("nan")  # the NaN at the end wins
    if rows.shape[1] > 3:
        rows[3] = 1.0
        rows[3, 1] = rows[3, 3] = float("nan")  # the first of two NaNs
    return x


ARGMAX_CASES = [("argmax_small", [3, 4, 9]), ("argmax_wide", [2, 5, 100])]
ARGMAXES = [("a_last", {}), ("a_mid", {"dim": 1}), ("a_first", {"dim": 0, "keepdim": True}),
            ("a_keep", {"dim": -1, "keepdim": True})]


def argmax_yaml(name, shape):
    lines = [f"# golden case {name}: argmax with exact ties, NaNs and infinities (SPEC 11)",
             "# Written by tests/golden/gen_tied.py; do not edit.",
             "seqc: 1", f"name: golden_{name}", "inputs:",
             f"  x: {{dtype: f32, shape: {gen.flow(shape)}}}",
             f"outputs: {gen.flow([o for o, _ in ARGMAXES])}", "nodes:"]
    for o, attrs in ARGMAXES:
        lines.append(f"  {o}: {gen.flow(dict({'op': 'argmax', 'input': 'x'}, **attrs))}")
    return "\n".join(lines) + "\n"


def argmax_expected(x):
    out = {}
    for o, attrs in ARGMAXES:
        dim, keep = attrs.get("dim", -1), attrs.get("keepdim", False)
        t = torch.argmax(x, dim=dim, keepdim=keep)
        want = argmax_rule(x, dim)
        if keep:
            want = want.unsqueeze(dim)
        assert torch.equal(t, want), f"torch.argmax disagrees with SPEC 11 on {o}"
        out[o] = t
    return out


def argmax_case(d, name, shape):
    g = torch.Generator().manual_seed(gen.case_seed(name))
    x = argmax_input(shape, g)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(argmax_yaml(name, shape))
    gen.write_safetensors(os.path.join(d, "input.safetensors"), {"x": x})
    gen.write_safetensors(os.path.join(d, "expected.safetensors"), argmax_expected(x))


def check_argmax(d):
    x = gen.read_safetensors(os.path.join(d, "input.safetensors"))["x"]
    expected = gen.read_safetensors(os.path.join(d, "expected.safetensors"))
    assert list(expected) == [o for o, _ in ARGMAXES]
    assert torch.isnan(x).any() and torch.isinf(x).any()
    for o, t in argmax_expected(x).items():
        assert torch.equal(t, expected[o]), f"{d}: {o} differs"


# ---------------------------------------------------------------- main

def self_test():
    """torch.argmax is SPEC 11's rule on the cases it names, and the
    save_model imitation keeps one copy of a tied weight."""
    nan = float("nan")
    assert torch.argmax(torch.tensor([1.0, 3.0, 2.0, 3.0])).item() == 1
    assert torch.argmax(torch.tensor([1.0, nan, 5.0, nan])).item() == 1
    assert torch.argmax(torch.tensor([float("-inf")] * 3)).item() == 0
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "w.safetensors")
        kept, meta = save_model_like(TinyGPT(), p)
        back, bmeta = gen.read_safetensors(p, with_metadata=True)
        assert bmeta == meta == {"lm_head.weight": "embed.weight"}
        assert list(back) == sorted(kept)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify this script's cases")
    a = ap.parse_args()
    torch.set_num_threads(1)
    self_test()
    names = ["tied_gpt"] + [n for n, _ in ARGMAX_CASES]
    if not a.check:
        for name in names:
            d = os.path.join(gen.CASES, name)
            if os.path.isdir(d):
                shutil.rmtree(d)
            os.makedirs(d)
        tied_gpt(os.path.join(gen.CASES, "tied_gpt"))
        for name, shape in ARGMAX_CASES:
            argmax_case(os.path.join(gen.CASES, name), name, shape)
        print(f"wrote {len(names)} cases")
    check_tied_gpt(os.path.join(gen.CASES, "tied_gpt"))
    for name, _ in ARGMAX_CASES:
        check_argmax(os.path.join(gen.CASES, name))
    total = sum(os.path.getsize(os.path.join(gen.CASES, n, f))
                for n in names for f in os.listdir(os.path.join(gen.CASES, n)))
    print(f"checked {len(names)} cases, {total / 1e3:.1f} kB")


if __name__ == "__main__":
    main()

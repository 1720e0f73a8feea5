#!/usr/bin/python3
"""gen_longctx.py: golden data for SPEC section 10's long-context ops.

    /usr/bin/python3 tests/golden/gen_longctx.py    # (re)write cases/mf_* and xl_*

Writes the cases named mf_* (memformer_encoder) and xl_* (transformer_xl, from
ref_longctx.xl_ky, the port of kimiyoung/transformer-xl) into tests/golden/cases/ in
gen.py's format: model.yaml, weights.safetensors (NODE.PARAM), input and
expected. The reference is ref_longctx.memformer, computed in float64 on the
float32 weights and inputs the files hold (both readings of SPEC's text in
ref_longctx.py agree to 1e-15; its __main__ checks that), rounded to float32
once. Seeded per case by the crc32 of its name, like gen.py.
"""
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402
import ref_longctx as ref  # noqa: E402

NODE = "mf"


def mf_yaml(name, cfg, D, T, B, comment):
    attrs = {"op": "memformer_encoder", "input": "x"}
    attrs.update(cfg)
    nodes = [(NODE, attrs)]
    inputs = {"x": ("f32", ["B", "T", D], "")}
    return gen.model_yaml("golden_" + name, {"B": B, "T": T}, inputs,
                          [NODE, NODE + ".memory"], nodes, comment)


def write_case(name, text, weights, x, expected):
    """cases/NAME: model.yaml and the three safetensors files, replacing any old one"""
    d = os.path.join(gen.CASES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(text)
    gen.write_safetensors(os.path.join(d, "weights.safetensors"), weights)
    gen.write_safetensors(os.path.join(d, "input.safetensors"), {"x": x})
    gen.write_safetensors(os.path.join(d, "expected.safetensors"), expected)


def memformer_case(name, cfg, B, T, D, comment):
    g = torch.Generator().manual_seed(gen.case_seed(name))
    # float32 weights and input, as the files hold them; the reference in float64
    w32 = {k: v.to(torch.float32) for k, v in ref.memformer_weights(cfg, D, g).items()}
    x32 = torch.randn(B, T, D, generator=g, dtype=torch.float32)
    w64 = {k: v.to(torch.float64) for k, v in w32.items()}
    y, mem = ref.memformer(w64, x32.to(torch.float64), cfg)
    write_case(name, mf_yaml(name, cfg, D, T, B, comment),
               {NODE + "." + k: v for k, v in w32.items()}, x32,
               {NODE: y.to(torch.float32), NODE + ".memory": mem.to(torch.float32)})


CASES = [
    ("mf_one_segment", dict(num_layers=1, nhead=2, dim_feedforward=16, num_slots=3, segment=5),
     1, 5, 8, "memformer_encoder: one segment, one layer"),
    ("mf_segments", dict(num_layers=2, nhead=2, dim_feedforward=24, num_slots=4, segment=3,
                         write_temperature=0.5),
     3, 12, 8, "memformer_encoder: four segments, two layers, batch 3, write temperature 0.5"),
    ("mf_gelu_long", dict(num_layers=2, nhead=4, dim_feedforward=32, num_slots=6, segment=40,
                          activation="gelu"),
     2, 1000, 16, "memformer_encoder: T = 1000 in 25 segments of 40, gelu, 6 slots"),
]


XL_NODE = "xl"


def xl_case(name, cfg, B, T, D, comment, inv_freq=False):
    g = torch.Generator().manual_seed(gen.case_seed(name))
    w32 = {k: v.to(torch.float32) for k, v in ref.xl_weights(cfg, D, g).items()}
    x32 = torch.randn(B, T, D, generator=g, dtype=torch.float32)
    w64 = {k: v.to(torch.float64) for k, v in w32.items()}
    y, _ = ref.xl_ky(w64, x32.to(torch.float64), cfg)
    attrs = {"op": "transformer_xl", "input": "x"}
    attrs.update({k: v for k, v in cfg.items()})
    text = gen.model_yaml("golden_" + name, {"B": B, "T": T}, {"x": ("f32", ["B", "T", D], "")},
                          [XL_NODE], [(XL_NODE, attrs)], comment)
    weights = {XL_NODE + "." + k: v for k, v in w32.items()}
    if inv_freq:  # the buffer KY's and HF's files hold, which SPEC 10 accepts and ignores
        weights[XL_NODE + ".pos_emb.inv_freq"] = (
            1 / (10000 ** (torch.arange(0.0, D, 2.0) / D))).to(torch.float32)
    write_case(name, text, weights, x32, {XL_NODE: y.to(torch.float32)})


XL_CASES = [
    ("xl_one_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=4, segment=6),
     1, 6, 8, "transformer_xl: one segment (the memory never read)"),
    ("xl_mem_below_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=3,
                                  segment=5), 3, 20, 8,
     "transformer_xl: mem_len 3 below the segment 5, four segments, batch 3 (the weights "
     "file also holds pos_emb.inv_freq)"),
    ("xl_mem_above_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=9,
                                  segment=4), 3, 16, 8,
     "transformer_xl: mem_len 9 above the segment 4"),
    ("xl_clamp_same_length", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=6,
                                  segment=4, clamp_len=3, same_length=True), 2, 16, 8,
     "transformer_xl: clamp_len 3 and same_length"),
    ("xl_no_memory", dict(num_layers=1, n_head=2, d_head=3, d_inner=8, mem_len=0, segment=4),
     2, 12, 6, "transformer_xl: mem_len 0 (each segment alone)"),
    ("xl_long", dict(num_layers=2, n_head=2, d_head=8, d_inner=32, mem_len=32, segment=25),
     1, 1000, 16, "transformer_xl: T = 1000 in 40 segments of 25, mem_len 32"),
]


def main():
    torch.set_num_threads(1)
    for name, cfg, B, T, D, comment in CASES:
        memformer_case(name, cfg, B, T, D, comment)
    for name, cfg, B, T, D, comment in XL_CASES:
        xl_case(name, cfg, B, T, D, comment, inv_freq=name == "xl_mem_below_segment")
    print(f"wrote {len(CASES) + len(XL_CASES)} cases to {os.path.relpath(gen.CASES, gen.ROOT)}")


if __name__ == "__main__":
    main()

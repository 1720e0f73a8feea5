#!/usr/bin/python3
"""gen_longctx.py: golden data for SPEC section 10's long-context ops.

    /usr/bin/python3 tests/golden/gen_longctx.py    # (re)write cases/mf_*

Writes the cases named mf_* (memformer_encoder) into tests/golden/cases/ in
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


def memformer_case(name, cfg, B, T, D, comment):
    g = torch.Generator().manual_seed(gen.case_seed(name))
    # float32 weights and input, as the files hold them; the reference in float64
    w32 = {k: v.to(torch.float32) for k, v in ref.memformer_weights(cfg, D, g).items()}
    x32 = torch.randn(B, T, D, generator=g, dtype=torch.float32)
    w64 = {k: v.to(torch.float64) for k, v in w32.items()}
    y, mem = ref.memformer(w64, x32.to(torch.float64), cfg)
    d = os.path.join(gen.CASES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(mf_yaml(name, cfg, D, T, B, comment))
    gen.write_safetensors(os.path.join(d, "weights.safetensors"),
                          {NODE + "." + k: v for k, v in w32.items()})
    gen.write_safetensors(os.path.join(d, "input.safetensors"), {"x": x32})
    gen.write_safetensors(os.path.join(d, "expected.safetensors"),
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


def main():
    torch.set_num_threads(1)
    for name, cfg, B, T, D, comment in CASES:
        memformer_case(name, cfg, B, T, D, comment)
    print(f"wrote {len(CASES)} cases to {os.path.relpath(gen.CASES, gen.ROOT)}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""gen_t5.py: golden data for SPEC 10's t5_encoder and t5_decoder.

    /usr/bin/python3 tests/golden/gen_t5.py           # (re)write cases/t5_*
    /usr/bin/python3 tests/golden/gen_t5.py --check   # re-read them and verify

Writes the cases named t5_* into tests/golden/cases/ in gen.py's format
(model.yaml, weights.safetensors, input.safetensors, expected.safetensors),
leaving every other case alone. The reference is ref_t5.py, a port of
Hugging Face's T5Stack (its modules hold HF's parameter names, so the nodes
`encoder` and `decoder` give the weights file a T5 checkpoint's names),
computed in float64 on the float32 weights and inputs the files hold and
rounded to float32 once. Seeded per case by the crc32 of its name, like gen.py.

  t5_enc_relu_T10    encoder alone, source length 10, batch 2, relu, d_kv 5
                     (not d_model / heads), the bucket attributes left at
                     their defaults (32, 128)
  t5_enc_gated_T300  encoder alone, length 300, gated-gelu, 8 buckets and
                     max_distance 20: every far bucket is hit, both ways
  t5_encdec          t5-small's structure (v1.0) at a tiny size: the
                     embedding `shared` for the source and (tied, SPEC 11) the
                     target, encoder, decoder on the encoder's output, the
                     d_model^-0.5 `mul` and lm_head tied to shared.weight;
                     outputs the logits and the encoder's output
  t5_dec_gated       decoder alone on a given memory, gated-gelu, target
                     length 40 with 8 buckets and max_distance 12 (causal:
                     the log buckets and the far one), layer_norm_epsilon 1e-3

--check re-reads every case: the files' names, dtypes and shapes against the
YAML and SPEC 10's parameter list, the expected outputs again from the
files bit for bit, and the same within 1e-6 from ref_t5.t5_direct (SPEC's
text read a second way); PyTorch's float32 eager on the port within a tenth
of SPEC 8's tolerance (so a float32 implementation can meet it); and that the
far buckets matter: zeroing the bias row of the bucket of the largest
distances must move the outputs of the long cases far beyond SPEC 8's
tolerance.
"""
import argparse
import os
import shutil
import sys

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (safetensors, model_yaml, case_seed, CASES)
import ref_t5  # noqa: E402

TOLERANCE_FACTOR = 100  # the far-bucket check wants changes this far above 1e-4


def stack(attrs, d_model, is_decoder):
    """a float64 T5Stack for a YAML node"""
    return ref_t5.T5Stack(ref_t5.Config.from_node(attrs, d_model, is_decoder)).double().eval()


def nodes_of(text):
    return yaml.safe_load(text)["nodes"]


def reference(model, weights, inputs, dtype=torch.float64, rounded=True, direct=False):
    """Runs a t5_* case's model (the parsed YAML) in float64 (or dtype) from
    the file's float32 weights; returns its outputs by name, rounded to
    float32 (rounded=False: as computed). direct: the stacks by
    ref_t5.t5_direct (SPEC's text read a second way) instead of the modules. Knows
    the node kinds these cases use: embedding (tied or not), t5_encoder,
    t5_decoder, mul by a number, linear without bias (tied or not)."""
    w64 = {k: v.to(dtype) for k, v in weights.items()}
    env = {k: (v if v.dtype == torch.float32 else v.long()) for k, v in inputs.items()}
    env = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in env.items()}
    for name, a in model["nodes"].items():
        op = a["op"]
        if op == "embedding":
            table = w64[a.get("weight", name + ".weight")]
            env[name] = table[env[a["input"]]]
        elif op in ("t5_encoder", "t5_decoder"):
            x = env[a["input"]]
            m = stack(a, x.shape[-1], op == "t5_decoder").to(dtype)
            own = {k[len(name) + 1:]: v for k, v in w64.items() if k.startswith(name + ".")}
            m.load_state_dict(own)
            memory = env[a["memory"]] if op == "t5_decoder" else None
            with torch.no_grad():
                env[name] = (ref_t5.t5_direct(own, x, m.config, memory) if direct
                             else m(x, memory)[0])
        elif op == "mul":
            x, s = a["inputs"]
            env[name] = env[x] * float(s)
        elif op == "linear":
            assert a.get("bias") is False
            env[name] = env[a["input"]] @ w64[a.get("weight", name + ".weight")].T
        else:
            raise ValueError("gen_t5 reference: op " + op)
    return {o: env[o].to(torch.float32) if rounded else env[o] for o in model["outputs"]}


def make_weights(model, inputs, g):
    """float32 weights for every parameter the model owns, T5-sized (ref_t5.init_like_hf)"""
    w = {}
    d_model = {}
    for name, a in model["nodes"].items():
        op = a["op"]
        if op == "embedding" and "weight" not in a:
            w[name + ".weight"] = torch.randn(a["num_embeddings"], a["embedding_dim"],
                                              generator=g, dtype=torch.float64).float()
            d_model[name] = a["embedding_dim"]
        elif op == "embedding":
            d_model[name] = a["embedding_dim"]
        elif op in ("t5_encoder", "t5_decoder"):
            src = a["input"]
            D = d_model[src] if src in d_model else inputs[src].shape[-1]
            m = stack(a, D, op == "t5_decoder")
            ref_t5.init_like_hf(m, g)
            for k, v in m.state_dict().items():
                w[name + "." + k] = v.float()
            d_model[name] = D
        elif op == "mul":
            d_model[name] = d_model[a["inputs"][0]]
        elif op == "linear" and "weight" not in a:
            D = d_model[a["input"]]
            w[name + ".weight"] = (torch.randn(a["out_features"], D, generator=g,
                                               dtype=torch.float64) * D ** -0.5).float()
    return w


def make_inputs(model, g, vocab):
    out = {}
    for n, spec in model["inputs"].items():
        shape = [model["dims"][d] if isinstance(d, str) else d for d in spec["shape"]]
        if spec["dtype"] == "f32":
            out[n] = torch.randn(shape, generator=g)
        else:
            t = torch.randint(0, vocab, shape, generator=g, dtype=torch.int64)
            t.view(-1)[0], t.view(-1)[-1] = 0, vocab - 1  # the first and last rows used
            out[n] = t.to(torch.int32)
    return out


def t5_yaml(name, dims, inputs, outputs, nodes, comment):
    text = gen.model_yaml("golden_" + name, dims, inputs, outputs, nodes, comment)
    return text.replace("Written by tests/golden/gen.py", "Written by tests/golden/gen_t5.py")


def enc_attrs(**kw):
    a = {"op": "t5_encoder", "input": "x"}
    a.update(kw)
    return a


def define_cases():
    """(name, model.yaml text, vocabulary of the integer inputs or None)"""
    cases = []
    f = ("f32", ["B", "T", 24], "")
    cases.append(("t5_enc_relu_T10", t5_yaml(
        "t5_enc_relu_T10", {"B": 2, "T": 10}, {"x": f}, ["encoder"],
        [("encoder", enc_attrs(num_layers=2, num_heads=3, d_kv=5, d_ff=40))],
        "t5_encoder alone: source length 10, batch 2, relu, d_kv 5 (not d_model / heads), "
        "buckets at their defaults"), None))
    f = ("f32", ["B", "T", 16], "")
    cases.append(("t5_enc_gated_T300", t5_yaml(
        "t5_enc_gated_T300", {"B": 2, "T": 300}, {"x": f}, ["encoder"],
        [("encoder", enc_attrs(num_layers=2, num_heads=2, d_kv=8, d_ff=32,
                               feed_forward_proj="gated-gelu",
                               relative_attention_num_buckets=8,
                               relative_attention_max_distance=20))],
        "t5_encoder alone: length 300, far past max_distance 20 (8 buckets), gated-gelu"), None))
    D, V = 32, 50
    cases.append(("t5_encdec", t5_yaml(
        "t5_encdec", {"B": 2, "S": 9, "T": 6},
        {"src": ("i32", ["B", "S"], ""), "tgt": ("i32", ["B", "T"], "")},
        ["lm_head", "encoder"],
        [("shared", {"op": "embedding", "input": "src", "num_embeddings": V, "embedding_dim": D}),
         ("tgt_embed", {"op": "embedding", "input": "tgt", "num_embeddings": V,
                        "embedding_dim": D, "weight": "shared.weight"}),
         ("encoder", {"op": "t5_encoder", "input": "shared", "num_layers": 2, "num_heads": 4,
                      "d_kv": 8, "d_ff": 48}),
         ("decoder", {"op": "t5_decoder", "input": "tgt_embed", "memory": "encoder",
                      "num_layers": 2, "num_heads": 4, "d_kv": 8, "d_ff": 48}),
         ("scaled", {"op": "mul", "inputs": ["decoder", D ** -0.5]}),
         ("lm_head", {"op": "linear", "input": "scaled", "out_features": V, "bias": False,
                      "weight": "shared.weight"})],
        "t5-small's structure (v1.0) at a tiny size: shared embedding, encoder, decoder, "
        "d_model^-0.5, tied lm_head"), V))
    f = ("f32", ["B", "T", 24], "")
    cases.append(("t5_dec_gated", t5_yaml(
        "t5_dec_gated", {"B": 2, "S": 11, "T": 40},
        {"x": f, "enc_out": ("f32", ["B", "S", 24], "")}, ["decoder"],
        [("decoder", {"op": "t5_decoder", "input": "x", "memory": "enc_out", "num_layers": 2,
                      "num_heads": 2, "d_kv": 16, "d_ff": 40, "feed_forward_proj": "gated-gelu",
                      "relative_attention_num_buckets": 8,
                      "relative_attention_max_distance": 12, "layer_norm_epsilon": "1e-3"})],
        "t5_decoder alone on a given memory: target length 40, 8 buckets, max_distance 12, "
        "gated-gelu, layer_norm_epsilon 1e-3"), None))
    return cases


def write_case(name, text, vocab):
    model = yaml.safe_load(text)
    g = torch.Generator().manual_seed(gen.case_seed(name))
    inputs = make_inputs(model, g, vocab)
    weights = make_weights(model, inputs, g)
    expected = reference(model, weights, inputs)
    d = os.path.join(gen.CASES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(text)
    gen.write_safetensors(os.path.join(d, "weights.safetensors"), weights)
    gen.write_safetensors(os.path.join(d, "input.safetensors"), inputs)
    gen.write_safetensors(os.path.join(d, "expected.safetensors"), expected)


def expected_params(model, inputs):
    """NODE.PARAM -> shape, from SPEC's lists (ref_t5.spec_param_names) and the YAML"""
    names, d_model = {}, {}
    for name, a in model["nodes"].items():
        op = a["op"]
        if op == "embedding":
            if "weight" not in a:
                names[name + ".weight"] = [a["num_embeddings"], a["embedding_dim"]]
            d_model[name] = a["embedding_dim"]
        elif op in ("t5_encoder", "t5_decoder"):
            D = d_model.get(a["input"]) or inputs[a["input"]].shape[-1]
            c = ref_t5.Config.from_node(a, D, op == "t5_decoder")
            for k, shape in ref_t5.spec_param_names(c).items():
                names[name + "." + k] = shape
            d_model[name] = D
        elif op == "mul":
            d_model[name] = d_model[a["inputs"][0]]
    return names


def far_bucket_matters(model, weights, inputs, expected):
    """zeroing the bias of the far bucket(s) moves the outputs well beyond 1e-4"""
    moved = 0.0
    for name, a in model["nodes"].items():
        if a["op"] not in ("t5_encoder", "t5_decoder"):
            continue
        N = a.get("relative_attention_num_buckets", 32)
        rows = [N - 1] if a["op"] == "t5_decoder" else [N - 1, N // 2 - 1]
        w = dict(weights)
        key = name + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight"
        w[key] = w[key].clone()
        w[key][rows] = 0
        out = reference(model, w, inputs)
        moved = max(moved, max((out[o] - expected[o]).abs().max().item() for o in out))
    return moved


def check_cases(names):
    for name in names:
        d = os.path.join(gen.CASES, name)
        with open(os.path.join(d, "model.yaml")) as f:
            model = yaml.safe_load(f)
        assert model["seqc"] == 1 and model["name"] == "golden_" + name
        weights = gen.read_safetensors(os.path.join(d, "weights.safetensors"))
        inputs = gen.read_safetensors(os.path.join(d, "input.safetensors"))
        expected = gen.read_safetensors(os.path.join(d, "expected.safetensors"))
        assert list(inputs) == list(model["inputs"]), f"{name}: inputs {list(inputs)}"
        assert list(expected) == list(model["outputs"]), f"{name}: outputs {list(expected)}"
        for n, spec in model["inputs"].items():
            want = {"f32": torch.float32, "i32": torch.int32}[spec["dtype"]]
            shape = [model["dims"][x] if isinstance(x, str) else x for x in spec["shape"]]
            assert inputs[n].dtype == want and list(inputs[n].shape) == shape, f"{name}: {n}"
        want = expected_params(model, inputs)
        assert sorted(weights) == sorted(want), f"{name}: {set(weights) ^ set(want)}"
        for k, shape in want.items():
            assert weights[k].dtype == torch.float32 and list(weights[k].shape) == shape, \
                f"{name}: {k} {list(weights[k].shape)}, SPEC says {shape}"
        again = reference(model, weights, inputs)
        for o in expected:
            assert torch.equal(again[o], expected[o]), f"{name}: {o} differs from the reference"
            assert torch.isfinite(expected[o]).all()
            assert expected[o].std() > 0.1, f"{name}: {o} is nearly constant"
        # SPEC's text read directly gives the same numbers (float64)
        direct = reference(model, weights, inputs, rounded=False, direct=True)
        d = max(((direct[o] - expected[o]).abs() / (1e-6 + expected[o].abs())).max().item()
                for o in expected)
        assert d < 1e-6, f"{name}: ref_t5.t5_direct differs by {d:.3g} (relative)"
        # PyTorch's float32 eager on the same port stays well inside SPEC 8
        f32 = reference(model, weights, inputs, torch.float32)
        worst = max(((f32[o] - expected[o]).abs() / (1e-4 + 1e-4 * expected[o].abs())).max().item()
                    for o in expected)
        assert worst < 0.1, f"{name}: float32 uses {worst:.2f} of SPEC 8's tolerance"
        line = f"{name}: ok, float32 eager uses {worst:.3f} of the tolerance, outputs {[list(t.shape) for t in expected.values()]}"
        if max(model["dims"].values()) > 30:
            moved = far_bucket_matters(model, weights, inputs, expected)
            assert moved > TOLERANCE_FACTOR * 1e-4, f"{name}: the far bucket moves only {moved}"
            line += f", the far bucket's bias moves them by {moved:.3g}"
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify the t5_* cases")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cases = define_cases()
    if not a.check:
        for name, text, vocab in cases:
            write_case(name, text, vocab)
        print(f"wrote {len(cases)} cases to {os.path.relpath(gen.CASES, gen.ROOT)}")
    check_cases([c[0] for c in cases])


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""gen.py: golden data for seqc, computed by PyTorch 1.13 float32 eager.

    /usr/bin/python3 tests/golden/gen.py           # (re)write tests/golden/cases/
    /usr/bin/python3 tests/golden/gen.py --check   # re-read cases/ and verify them

For every case it writes tests/golden/cases/NAME/:
    model.yaml            the model (written here; the models/ cases copy models/*.yaml)
    weights.safetensors   the parameters, NODE.PARAM as SPEC section 2 says
                          (absent when the model has none)
    input.safetensors     the model's inputs by input name
    expected.safetensors  PyTorch's outputs by output name

The reference is a small interpreter of the model language over torch ops
(`Reference` below): each layer node becomes the PyTorch module it mirrors,
registered in an nn.ModuleDict under the node's name, so the weights file is
literally that ModuleDict's state_dict(). Everything is seeded per case (by the
crc32 of its name), so a rerun writes the same bytes and adding a case does not
change the others. tests/golden/run_golden.sh runs the cases; it needs no Python.

There is no safetensors package on Debian 12, so the format is written here:
u64 little-endian header length, a JSON header {name: {dtype, shape,
data_offsets}} padded with spaces to a multiple of 8, then the raw
little-endian tensor data.
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES = os.path.join(HERE, "cases")

# ---------------------------------------------------------------- safetensors

ST_DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}
ST_NP = {"F32": "<f4", "I32": "<i4", "I64": "<i8"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> torch tensor (f32, i32 or i64), written in order;
    metadata: an optional __metadata__ (str -> str), written first."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.numpy().astype(ST_NP[ST_DTYPES[t.dtype]]).tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path, with_metadata=False):
    """dict name -> torch tensor, in file order; checks the layout strictly.
    with_metadata: (tensors, the __metadata__ or None)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    header = json.loads(raw[8:8 + n].decode())
    meta = header.pop("__metadata__", None)
    data = raw[8 + n:]
    out, end = {}, 0
    for name, e in header.items():
        a, b = e["data_offsets"]
        assert a == end and b >= a, f"{path}: {name}: offsets {a},{b} not packed"
        arr = np.frombuffer(data[a:b], dtype=ST_NP[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")).copy())
        end = b
    assert end == len(data), f"{path}: {len(data) - end} trailing bytes"
    return (out, meta) if with_metadata else out


# ---------------------------------------------------------- the reference

class RMSNorm(nn.Module):
    """rms_norm as SPEC section 7 defines it (torch 1.13 has no nn.RMSNorm)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def sinusoid_table(t, d):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same), in float64."""
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    j = torch.arange(d)
    two_i = (j - j % 2).to(torch.float64)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / d)
    return torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))


def init_trained_looking(mod, gen):
    """Replaces PyTorch's initial values (norms at exactly 1 and 0 would hide
    bugs) by values of the size trained weights have."""
    def normal(p, mean, std):
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)
    if isinstance(mod, nn.Linear):
        normal(mod.weight, 0.0, 1.0 / math.sqrt(mod.in_features))
        if mod.bias is not None:
            normal(mod.bias, 0.0, 0.1)
    elif isinstance(mod, (nn.LayerNorm, RMSNorm)):
        normal(mod.weight, 1.0, 0.2)
        if getattr(mod, "bias", None) is not None:
            normal(mod.bias, 0.0, 0.1)
    elif isinstance(mod, nn.Embedding):
        normal(mod.weight, 0.0, 1.0)


def norm_dim(d, rank):
    return d + rank if d < 0 else d


class Reference:
    """Runs a parsed model (the dict PyYAML makes of model.yaml) with torch ops.
    Layer nodes get their modules on first use, sized from the incoming tensor
    (as seqc infers in_features), initialised from gen."""

    def __init__(self, model, gen):
        self.model = model
        self.gen = gen
        self.mods = nn.ModuleDict()

    def bind_dims(self, inputs):
        dims = dict(self.model.get("dims") or {})
        for name, spec in self.model["inputs"].items():
            for d, n in zip(spec["shape"], inputs[name].shape):
                if isinstance(d, str):
                    dims[d] = n
        return dims

    def module(self, name, make):
        if name not in self.mods:
            m = make()
            init_trained_looking(m, self.gen)
            self.mods[name] = m
        return self.mods[name]

    def run(self, inputs):
        dims = self.bind_dims(inputs)
        env = dict(inputs)
        for name, node in (self.model.get("nodes") or {}).items():
            env[name] = self.node(name, dict(node), env, dims)
        return {o: env[o] for o in self.model["outputs"]}

    def node(self, name, a, env, dims):
        op = a.pop("op")
        x = env[a.pop("input")] if "input" in a else None
        xs = [env[v] for v in a.pop("inputs")] if "inputs" in a else None
        binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                  "matmul": torch.matmul}
        unary = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                 "silu": F.silu, "exp": torch.exp, "softplus": F.softplus}
        if op in binary:
            return binary[op](xs[0], xs[1])
        if op in unary:
            return unary[op](x)
        if op == "gelu":
            return F.gelu(x, approximate=a.get("approximate", "none"))
        if op == "softmax":
            return torch.softmax(x, dim=a.get("dim", -1))
        if op == "layer_norm":
            eps = float(a.get("eps", 1e-5))
            return self.module(name, lambda: nn.LayerNorm(x.shape[-1], eps=eps))(x)
        if op == "rms_norm":
            eps = float(a.get("eps", 1e-6))
            return self.module(name, lambda: RMSNorm(x.shape[-1], eps))(x)
        if op == "linear":
            m = self.module(name, lambda: nn.Linear(x.shape[-1], a["out_features"],
                                                    bias=a.get("bias", True)))
            return m(x)
        if op == "embedding":
            m = self.module(name, lambda: nn.Embedding(a["num_embeddings"], a["embedding_dim"]))
            return m(x.long())
        if op == "concat":
            return torch.cat(xs, dim=a["dim"])
        if op == "slice":
            idx = [slice(None)] * norm_dim(a["dim"], x.dim())
            return x[tuple(idx + [slice(a.get("start", 0), a.get("end"))])]
        if op == "select":
            return x.select(a["dim"], a["index"])
        if op == "mean":
            return x.mean(dim=a["dim"], keepdim=a.get("keepdim", False))
        if op == "transpose":
            return x.permute(*a["dims"])
        if op == "reshape":
            return x.reshape([dims[d] if isinstance(d, str) else d for d in a["shape"]])
        if op == "dropout":
            return x
        if op == "positional_encoding":
            assert a.get("kind", "sinusoidal") == "sinusoidal"
            pe = sinusoid_table(x.shape[-2], x.shape[-1]).to(torch.float32)
            return x + pe
        raise ValueError(f"reference: unknown op {op}")


# ------------------------------------------------------------ writing cases

def flow(v):
    """A value in YAML flow style."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        s = "%.9g" % v
        mant, _, exp = s.partition("e")
        if "." not in mant:
            mant += ".0"  # YAML 1.1 (PyYAML) wants a dot to see a float
        return mant + ("e" + exp if exp else "")
    return str(v)


def model_yaml(name, dims, inputs, outputs, nodes, comment):
    lines = [f"# {comment}", "# Written by tests/golden/gen.py; do not edit.",
             "seqc: 1", f"name: {name}", f"dims: {flow(dims)}", "inputs:"]
    for n, (dt, shape, _) in inputs.items():
        lines.append(f"  {n}: {{dtype: {dt}, shape: {flow(shape)}}}")
    lines.append(f"outputs: {flow(outputs)}")
    lines.append("nodes:")
    for n, attrs in nodes:
        lines.append(f"  {n}: {flow(attrs)}")
    return "\n".join(lines) + "\n"


def parse_input(spec):
    """'f32[B,T,13]' with optional suffixes: '*S' scales, '!nz' keeps values
    away from zero (divisors), 'i32[B,T]<N' draws indices from [0, N)."""
    kind, _, rest = spec.partition("[")
    shape, _, opts = rest.partition("]")
    shape = [int(d) if d.strip().lstrip("-").isdigit() else d.strip() for d in shape.split(",")]
    return kind, shape, opts


def make_input(kind, shape, opts, dims, gen):
    size = [dims[d] if isinstance(d, str) else d for d in shape]
    if kind in ("i32", "i64"):
        high = int(opts.lstrip("<"))
        t = torch.randint(0, high, size, generator=gen, dtype=torch.int64)
        flat = t.view(-1)
        if flat.numel() >= 2:  # make sure the first and last rows are used
            flat[0], flat[-1] = 0, high - 1
        return t.to(torch.int32 if kind == "i32" else torch.int64)
    t = torch.randn(size, generator=gen)
    if "!nz" in opts:
        t = torch.sign(t) * (0.5 + torch.rand(size, generator=gen) * 1.5)
        t[t == 0] = 1.0
    if "*" in opts:
        t = t * float(opts.split("*")[1].split("!")[0])
    return t


def case_seed(name):
    return zlib.crc32(name.encode())


def write_case(name, text, input_specs, dims):
    """Parses text back with PyYAML (so the file says what the reference runs),
    makes inputs, runs the reference and writes the four files."""
    model = yaml.safe_load(text)
    gen = torch.Generator().manual_seed(case_seed(name))
    inputs = {n: make_input(k, s, o, dims, gen) for n, (k, s, o) in input_specs.items()}
    ref = Reference(model, gen)
    with torch.no_grad():
        outs = ref.run(inputs)
    for o, t in outs.items():
        assert t.dtype == torch.float32 and torch.isfinite(t).all(), f"{name}: {o} not finite f32"
    d = os.path.join(CASES, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(text)
    sd = ref.mods.state_dict()
    if sd:
        write_safetensors(os.path.join(d, "weights.safetensors"), sd)
    write_safetensors(os.path.join(d, "input.safetensors"), inputs)
    write_safetensors(os.path.join(d, "expected.safetensors"),
                      {o: t.contiguous() for o, t in outs.items()})


CASE_LIST = []


def case(name, inputs, nodes, outputs=None, dims=None, comment=None):
    """inputs: {name: 'f32[B,T,13]'}; nodes: [(name, {op: ..., ...})];
    outputs default to the last node; dims default to {B: 3, T: 7}."""
    dims = dims if dims is not None else {"B": 3, "T": 7}
    specs = {n: parse_input(s) for n, s in inputs.items()}
    used = {d for _, shape, _ in specs.values() for d in shape if isinstance(d, str)}
    dims = {k: v for k, v in dims.items() if k in used}  # no dims the model never names
    outputs = outputs or [nodes[-1][0]]
    # the model's own name is prefixed: it names symbols (a model called exp...)
    text = model_yaml("golden_" + name, dims, specs, outputs, nodes,
                      comment or f"golden case {name}")
    CASE_LIST.append((name, text, specs, dims))


def model_case(path, inputs, dims):
    """A models/ file verbatim, at the (small) dims given; seqc takes the dims
    from the input shapes."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    model = yaml.safe_load(text)
    specs = {}
    for n, spec in model["inputs"].items():
        _, _, opts = parse_input(inputs[n])
        specs[n] = (spec["dtype"], spec["shape"], opts)
    name = "model_" + os.path.splitext(os.path.basename(path))[0]
    CASE_LIST.append((name, text, specs, dims))


# ------------------------------------------------------------------ the cases

def define_cases():
    # binary elementwise, numpy broadcasting
    case("add_bcast_feature", {"x": "f32[B,T,13]", "y": "f32[13]"},
         [("z", {"op": "add", "inputs": ["x", "y"]})])
    case("add_same_shape", {"x": "f32[B,33]", "y": "f32[B,33]"},
         [("z", {"op": "add", "inputs": ["x", "y"]})], dims={"B": 1})
    case("add_size1_operand", {"x": "f32[B,T,7]", "y": "f32[1]"},
         [("z", {"op": "add", "inputs": ["y", "x"]})])
    case("sub_bcast_both", {"x": "f32[B,T,1]", "y": "f32[T,13]"},
         [("z", {"op": "sub", "inputs": ["x", "y"]})])
    case("mul_bcast_middle", {"x": "f32[B,T,17]", "y": "f32[B,1,17]"},
         [("z", {"op": "mul", "inputs": ["x", "y"]})])
    case("div_bcast_last", {"x": "f32[B,T,17]", "y": "f32[B,T,1]!nz"},
         [("z", {"op": "div", "inputs": ["x", "y"]})])
    case("div_bcast_feature", {"x": "f32[13]", "y": "f32[B,T,13]!nz"},
         [("z", {"op": "div", "inputs": ["x", "y"]})])

    # matmul: batched, broadcast batch dims, plain 2-D, size-1 edges
    case("matmul_batched", {"a": "f32[B,7,13]", "b": "f32[B,13,17]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})])
    case("matmul_rank2_rhs", {"a": "f32[B,T,13]", "b": "f32[13,33]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})])
    case("matmul_bcast_batch", {"a": "f32[B,1,7,13]", "b": "f32[3,13,5]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})], dims={"B": 2})
    case("matmul_bcast_lhs", {"a": "f32[7,13]", "b": "f32[B,13,17]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})])
    case("matmul_2d", {"a": "f32[B,33]", "b": "f32[33,17]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})])
    case("matmul_size1", {"a": "f32[B,1,13]", "b": "f32[B,13,1]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})])
    case("matmul_tails", {"a": "f32[B,67,129]", "b": "f32[129,65]"},
         [("c", {"op": "matmul", "inputs": ["a", "b"]})], dims={"B": 2},
         comment="sizes past one vector/tile with remainders")

    # unary elementwise, inputs spread over [-9, 9] or so
    for op in ("relu", "tanh", "sigmoid", "silu"):
        case(op, {"x": "f32[B,T,17]*3"}, [("y", {"op": op, "input": "x"})])
    case("exp", {"x": "f32[B,T,17]*2"}, [("y", {"op": "exp", "input": "x"})])
    case("softplus", {"x": "f32[B,T,33]*30"}, [("y", {"op": "softplus", "input": "x"})],
         comment="inputs past the threshold 20 and far below 0")
    case("gelu_default", {"x": "f32[B,T,17]*3"}, [("y", {"op": "gelu", "input": "x"})])
    case("gelu_none", {"x": "f32[B,T,33]*3"},
         [("y", {"op": "gelu", "input": "x", "approximate": "none"})])
    case("gelu_tanh", {"x": "f32[B,T,33]*3"},
         [("y", {"op": "gelu", "input": "x", "approximate": "tanh"})])

    # row kernels
    case("softmax_last", {"x": "f32[B,T,17]*3"}, [("y", {"op": "softmax", "input": "x"})])
    case("softmax_middle", {"x": "f32[B,T,13]*3"},
         [("y", {"op": "softmax", "input": "x", "dim": 1})])
    case("softmax_wide", {"x": "f32[B,1003]*4"},
         [("y", {"op": "softmax", "input": "x", "dim": -1})], dims={"B": 3})
    case("softmax_size1", {"x": "f32[B,T,1]"}, [("y", {"op": "softmax", "input": "x"})])
    case("layer_norm", {"x": "f32[B,T,33]*2"}, [("y", {"op": "layer_norm", "input": "x"})])
    case("layer_norm_eps", {"x": "f32[B,515]"},
         [("y", {"op": "layer_norm", "input": "x", "eps": 1e-3})], dims={"B": 3})
    case("rms_norm", {"x": "f32[B,T,13]*2"}, [("y", {"op": "rms_norm", "input": "x"})])
    case("rms_norm_eps", {"x": "f32[B,T,33]"},
         [("y", {"op": "rms_norm", "input": "x", "eps": 1e-6})])
    case("mean_keepdim", {"x": "f32[B,T,17]"},
         [("y", {"op": "mean", "input": "x", "dim": -1, "keepdim": True})])
    case("mean_dropdim", {"x": "f32[B,T,13]"},
         [("y", {"op": "mean", "input": "x", "dim": 1, "keepdim": False})])
    case("mean_default_keepdim", {"x": "f32[B,T,13]"},
         [("y", {"op": "mean", "input": "x", "dim": 0})])

    # data movement
    # (seqc's symbolic dims have no sums: 3 + T along one dim would be refused)
    case("concat_dim1", {"a": "f32[B,3,7]", "b": "f32[B,4,7]", "c": "f32[B,1,7]"},
         [("y", {"op": "concat", "inputs": ["a", "b", "c"], "dim": 1})])
    case("concat_dim1_sym", {"a": "f32[B,T,5]", "b": "f32[B,T,5]"},
         [("y", {"op": "concat", "inputs": ["a", "b"], "dim": 1})])
    case("concat_last", {"a": "f32[B,T,5]", "b": "f32[B,T,13]"},
         [("y", {"op": "concat", "inputs": ["a", "b"], "dim": -1})])
    case("slice_neg_start", {"x": "f32[B,T,13]"},
         [("y", {"op": "slice", "input": "x", "dim": 1, "start": -3})])
    case("slice_last_dim", {"x": "f32[B,T,17]"},
         [("y", {"op": "slice", "input": "x", "dim": -1, "start": 2, "end": 9})])
    case("slice_neg_end", {"x": "f32[B,T,13]"},
         [("y", {"op": "slice", "input": "x", "dim": -1, "start": 1, "end": -1})])
    case("slice_neg_both", {"x": "f32[B,T,13]"},
         [("y", {"op": "slice", "input": "x", "dim": 2, "start": -5, "end": -2})])
    case("select_last", {"x": "f32[B,T,13]"},
         [("y", {"op": "select", "input": "x", "dim": 1, "index": -1})])
    case("select_feature", {"x": "f32[B,T,13]"},
         [("y", {"op": "select", "input": "x", "dim": -1, "index": 4})])
    case("transpose_021", {"x": "f32[B,T,13]"},
         [("y", {"op": "transpose", "input": "x", "dims": [0, 2, 1]})])
    case("transpose_201", {"x": "f32[B,T,17]"},
         [("y", {"op": "transpose", "input": "x", "dims": [2, 0, 1]})])
    case("reshape_split", {"x": "f32[B,T,12]"},
         [("y", {"op": "reshape", "input": "x", "shape": ["B", "T", 3, -1]})])
    case("reshape_flatten", {"x": "f32[B,T,13]"},
         [("y", {"op": "reshape", "input": "x", "shape": ["B", -1]})])
    case("reshape_merge", {"x": "f32[B,T,13]"},
         [("y", {"op": "reshape", "input": "x", "shape": [-1, 13]})])
    case("dropout", {"x": "f32[B,T,13]"}, [("y", {"op": "dropout", "input": "x", "p": 0.1})])
    case("positional_encoding", {"x": "f32[B,T,16]"},
         [("y", {"op": "positional_encoding", "input": "x", "kind": "sinusoidal"})],
         dims={"B": 3, "T": 33})
    case("positional_encoding_odd", {"x": "f32[B,T,13]"},
         [("y", {"op": "positional_encoding", "input": "x", "kind": "sinusoidal"})],
         dims={"B": 1, "T": 17})

    # layers with parameters
    case("linear_bias", {"x": "f32[B,T,13]"},
         [("fc", {"op": "linear", "input": "x", "out_features": 17})])
    case("linear_nobias", {"x": "f32[B,33]"},
         [("fc", {"op": "linear", "input": "x", "out_features": 7, "bias": False})])
    case("linear_one_out", {"x": "f32[B,T,13]"},
         [("fc", {"op": "linear", "input": "x", "out_features": 1})], dims={"B": 1, "T": 1})
    case("linear_tails", {"x": "f32[B,T,67]"},
         [("fc", {"op": "linear", "input": "x", "out_features": 129})],
         dims={"B": 2, "T": 33}, comment="sizes past one vector/tile with remainders")
    case("embedding_i32", {"tokens": "i32[B,T]<50"},
         [("embed", {"op": "embedding", "input": "tokens", "num_embeddings": 50,
                     "embedding_dim": 13})])
    case("embedding_i64", {"tokens": "i64[B,T]<7"},
         [("embed", {"op": "embedding", "input": "tokens", "num_embeddings": 7,
                     "embedding_dim": 17})], dims={"B": 1, "T": 33})

    # small compositions: fusion and layout across nodes, several outputs
    case("gated_mlp", {"x": "f32[B,T,13]"},
         [("gate", {"op": "linear", "input": "x", "out_features": 33}),
          ("up", {"op": "linear", "input": "x", "out_features": 33, "bias": False}),
          ("act", {"op": "silu", "input": "gate"}),
          ("prod", {"op": "mul", "inputs": ["act", "up"]}),
          ("down", {"op": "linear", "input": "prod", "out_features": 13}),
          ("res", {"op": "add", "inputs": ["x", "down"]}),
          ("norm", {"op": "rms_norm", "input": "res"})])
    case("attention_manual", {"x": "f32[B,T,16]"},
         [("q", {"op": "linear", "input": "x", "out_features": 16}),
          ("k", {"op": "linear", "input": "x", "out_features": 16}),
          ("v", {"op": "linear", "input": "x", "out_features": 16}),
          ("kt", {"op": "transpose", "input": "k", "dims": [0, 2, 1]}),
          ("scores", {"op": "matmul", "inputs": ["q", "kt"]}),
          ("probs", {"op": "softmax", "input": "scores", "dim": -1}),
          ("ctx", {"op": "matmul", "inputs": ["probs", "v"]}),
          ("out", {"op": "linear", "input": "ctx", "out_features": 16})],
         outputs=["out", "probs"], dims={"B": 3, "T": 13})
    case("multi_output", {"x": "f32[B,T,13]", "y": "f32[B,T,13]"},
         [("s", {"op": "add", "inputs": ["x", "y"]}),
          ("t", {"op": "tanh", "input": "s"}),
          ("m", {"op": "mean", "input": "t", "dim": -1}),
          ("e", {"op": "exp", "input": "x"})],
         outputs=["m", "s", "e"])
    case("layer_norm_gelu_chain", {"x": "f32[B,T,17]"},
         [("fc", {"op": "linear", "input": "x", "out_features": 33}),
          ("ln", {"op": "layer_norm", "input": "fc"}),
          ("g", {"op": "gelu", "input": "ln", "approximate": "tanh"}),
          ("sig", {"op": "sigmoid", "input": "g"}),
          ("d", {"op": "sub", "inputs": ["g", "sig"]}),
          ("r", {"op": "relu", "input": "d"})], dims={"B": 1, "T": 7})

    # the models/ files, with small dims taken from the inputs
    model_case("models/mlp.yaml", {"x": "f32[B,T,256]"}, {"B": 2, "T": 7})
    model_case("models/token_classifier.yaml", {"tokens": "i32[B,T]<1000"}, {"B": 3, "T": 17})


# ------------------------------------------------------------------ checking

def self_test():
    """Cross-checks of reference pieces against independent formulas."""
    # PE against the usual PyTorch-tutorial form (exp/log), even and odd d
    for d in (16, 13):
        pos = torch.arange(33, dtype=torch.float64)[:, None]
        div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
        pe = torch.zeros(33, d, dtype=torch.float64)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div[: d // 2])
        assert torch.allclose(pe, sinusoid_table(33, d), rtol=0, atol=1e-12), "PE mismatch"
    # rms_norm against float64 numpy
    x = torch.randn(4, 13, generator=torch.Generator().manual_seed(5))
    m = RMSNorm(13, 1e-6)
    init_trained_looking(m, torch.Generator().manual_seed(6))
    xd = x.double().numpy()
    want = xd / np.sqrt((xd ** 2).mean(-1, keepdims=True) + 1e-6) * m.weight.double().detach().numpy()
    assert np.allclose(m(x).detach().numpy(), want, rtol=1e-5, atol=1e-6), "rms_norm mismatch"
    # the safetensors writer round-trips and pads
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "t.safetensors")
        t = {"a.b": torch.arange(6, dtype=torch.float32).reshape(2, 3),
             "i": torch.tensor([-1, 2], dtype=torch.int32),
             "l": torch.tensor([[2 ** 40]], dtype=torch.int64)}
        write_safetensors(p, t)
        back = read_safetensors(p)
        assert list(back) == list(t)
        for k in t:
            assert back[k].dtype == t[k].dtype and torch.equal(back[k], t[k])


def check_cases(names=None):
    """Re-reads cases from disk (the given names, else every one in cases/) and
    verifies them: files present and well formed, the inputs match the YAML,
    and running the reference on the weights from the file reproduces the
    expected outputs bit for bit."""
    names = sorted(names if names is not None else os.listdir(CASES))
    assert names, "no cases"
    total = 0
    for name in names:
        d = os.path.join(CASES, name)
        with open(os.path.join(d, "model.yaml")) as f:
            model = yaml.safe_load(f)
        assert model["seqc"] == 1, f"{name}: seqc is {model['seqc']}"
        assert model["name"] in ("golden_" + name, name[len("model_"):]), \
            f"{name}: name is {model['name']}"
        inputs = read_safetensors(os.path.join(d, "input.safetensors"))
        expected = read_safetensors(os.path.join(d, "expected.safetensors"))
        wpath = os.path.join(d, "weights.safetensors")
        weights = read_safetensors(wpath) if os.path.exists(wpath) else {}
        assert list(inputs) == list(model["inputs"]), f"{name}: inputs {list(inputs)}"
        assert list(expected) == list(model["outputs"]), f"{name}: outputs {list(expected)}"
        for n, spec in model["inputs"].items():
            want = {"f32": torch.float32, "i32": torch.int32, "i64": torch.int64}[spec["dtype"]]
            assert inputs[n].dtype == want, f"{name}: input {n} dtype"
            assert len(spec["shape"]) == inputs[n].dim(), f"{name}: input {n} rank"
            for d_, s in zip(spec["shape"], inputs[n].shape):
                assert isinstance(d_, str) or d_ == s, f"{name}: input {n} shape"
        # run once to create the modules, then load the file's weights
        ref = Reference(model, torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref.run(inputs)
        sd = ref.mods.state_dict()
        assert sorted(sd) == sorted(weights), f"{name}: params {sorted(sd)} vs {sorted(weights)}"
        ref.mods.load_state_dict(weights)
        with torch.no_grad():
            outs = ref.run(inputs)
        for o, t in outs.items():
            assert t.shape == expected[o].shape, f"{name}: {o} shape"
            assert torch.equal(t, expected[o]), f"{name}: {o} differs"
        for t in expected.values():
            assert torch.isfinite(t).all()
        total += sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"checked {len(names)} cases, {total / 1e6:.2f} MB")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify this script's cases")
    a = ap.parse_args()
    torch.set_num_threads(1)
    self_test()
    define_cases()
    # cases/ is shared with gen_recurrent.py, gen_transformer.py and the
    # other gen_*.py (gen_longctx, gen_tied, gen_t5, ...): touch
    # only the cases this script defines
    mine = [name for name, _, _, _ in CASE_LIST]
    if not a.check:
        os.makedirs(CASES, exist_ok=True)
        for name, text, specs, dims in CASE_LIST:
            if os.path.isdir(os.path.join(CASES, name)):
                shutil.rmtree(os.path.join(CASES, name))
            write_case(name, text, specs, dims)
        print(f"wrote {len(CASE_LIST)} cases to {os.path.relpath(CASES, ROOT)}")
    total = check_cases(mine)
    if total > 2.2e6:
        print(f"warning: golden data is {total / 1e6:.2f} MB, over the ~2 MB budget",
              file=sys.stderr)


if __name__ == "__main__":
    main()

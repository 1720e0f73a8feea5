#!/usr/bin/python3
"""gen_recurrent.py: golden data for seqc's recurrent ops (rnn, lstm, gru, scan).

    /usr/bin/python3 tests/golden/gen_recurrent.py           # (re)write the cases below
    /usr/bin/python3 tests/golden/gen_recurrent.py --check   # re-read and verify them

Writes tests/golden/cases/{rnn,lstm,gru,scan}_*/ and model_{rnn,lstm,gru,...}/ in the
layout of gen.py (model.yaml, weights, input, expected safetensors) and touches no
other case. The reference extends gen.py's: `rnn`, `lstm`, `gru` are PyTorch's
nn.RNN / nn.LSTM / nn.GRU (batch_first) registered under the node name, so
the weights file is their state_dict; the peephole LSTM (SPEC section 2) is a
small module written here in torch ops with the same parameter names; `scan`
runs its body once per step with the body's layers in a nested ModuleDict
named after the scan, so their weights are SCAN.NODE.PARAM.

`lengths` (SPEC 11): the layers run on pack_padded_sequence(x, lengths,
batch_first=True, enforce_sorted=False) and pad_packed_sequence(...,
total_length=T), PyTorch's own ragged path; a scan with lengths is written
out by hand here: at step t row b is active iff t < lengths[b], an inactive
row keeps its state and emits 0. An input spec 'i64[B]=5,1,7' holds exactly
those values (lengths chosen by the case, not drawn).
"""
import argparse
import os
import shutil
import sys

import torch
import torch.nn as nn
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (helpers: safetensors, cases, the feed-forward reference)

PREFIXES = ("rnn_", "lstm_", "gru_", "scan_")
MODELS = ("rnn", "birnn_stacked", "lstm", "bilstm_stacked", "lstm_peephole", "gru",
          "scan_cell", "lstm_classifier")


class PeepholeLSTM(nn.Module):
    """nn.LSTM with peephole weights w_ci, w_cf, w_co (SPEC section 2):
    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi + w_ci * c_prev), f likewise with
    w_cf, o = sigmoid(... + w_co * c_new). Parameter names as nn.LSTM's."""

    def __init__(self, input_size, hidden, num_layers, bias, bidirectional, gen):
        super().__init__()
        self.H, self.L, self.D, self.bias = hidden, num_layers, 2 if bidirectional else 1, bias
        k = 1.0 / hidden ** 0.5
        for l in range(num_layers):
            for d in range(self.D):
                sfx = f"l{l}" + ("_reverse" if d else "")
                fin = input_size if l == 0 else self.D * hidden
                shapes = [("weight_ih", (4 * hidden, fin)), ("weight_hh", (4 * hidden, hidden))]
                if bias:
                    shapes += [("bias_ih", (4 * hidden,)), ("bias_hh", (4 * hidden,))]
                shapes += [("weight_ci", (hidden,)), ("weight_cf", (hidden,)),
                           ("weight_co", (hidden,))]
                for what, shape in shapes:
                    p = (torch.rand(shape, generator=gen) * 2 - 1) * k
                    setattr(self, f"{what}_{sfx}", nn.Parameter(p))

    def forward(self, x, hc):
        h0, c0 = hc
        B, T, _ = x.shape
        hs, cs = [], []
        for l in range(self.L):
            outs = []
            for d in range(self.D):
                sfx = f"l{l}" + ("_reverse" if d else "")
                p = lambda n: getattr(self, f"{n}_{sfx}")  # noqa: E731
                h, c = h0[l * self.D + d], c0[l * self.D + d]
                ys = [None] * T
                for s in range(T):
                    t = T - 1 - s if d else s
                    g = x[:, t] @ p("weight_ih").T + h @ p("weight_hh").T
                    if self.bias:
                        g = g + p("bias_ih") + p("bias_hh")
                    i, f, gg, o = g.chunk(4, dim=1)
                    i = torch.sigmoid(i + p("weight_ci") * c)
                    f = torch.sigmoid(f + p("weight_cf") * c)
                    c = f * c + i * torch.tanh(gg)
                    o = torch.sigmoid(o + p("weight_co") * c)
                    h = o * torch.tanh(c)
                    ys[t] = h
                outs.append(torch.stack(ys, 1))
                hs.append(h)
                cs.append(c)
            x = torch.cat(outs, 2)
        return x, (torch.stack(hs), torch.stack(cs))


class Reference(gen.Reference):
    """gen.py's reference plus the recurrent ops."""

    def node(self, name, a, env, dims):
        op = a.get("op")
        if any(isinstance(v, (int, float)) for v in a.get("inputs", [])):
            env = dict(env)  # numbers stand for f32 scalars, as in seqc
            for i, v in enumerate(a["inputs"]):
                if isinstance(v, (int, float)):
                    env[f"#{i}"] = torch.tensor(float(v))
            a["inputs"] = [f"#{i}" if isinstance(v, (int, float)) else v
                           for i, v in enumerate(a["inputs"])]
        if op in ("rnn", "lstm", "gru"):
            return self.recurrent(name, op, a, env)
        if op == "scan":
            return self.scan(name, a, env, dims)
        return super().node(name, a, env, dims)

    def recurrent(self, name, op, a, env):
        x = env[a["input"]]
        H, L = a["hidden_size"], a.get("num_layers", 1)
        bidir, bias = a.get("bidirectional", False), a.get("bias", True)
        D = 2 if bidir else 1
        proj = a.get("proj_size", 0)
        P = proj if proj else H
        kw = dict(input_size=x.shape[-1], hidden_size=H, num_layers=L, bias=bias,
                  batch_first=True, bidirectional=bidir)
        if op == "rnn":
            make = lambda: nn.RNN(nonlinearity=a.get("nonlinearity", "tanh"), **kw)  # noqa
        elif op == "gru":
            make = lambda: nn.GRU(**kw)  # noqa: E731
        elif a.get("peephole", False):
            make = lambda: PeepholeLSTM(x.shape[-1], H, L, bias, bidir, self.gen)  # noqa
        else:
            make = lambda: nn.LSTM(proj_size=proj, **kw)  # noqa: E731
        m = self.module(name, make)
        B, T = x.shape[0], x.shape[1]
        h0 = env[a["h0"]] if "h0" in a else torch.zeros(L * D, B, P)
        inp = x
        if "lengths" in a:  # PyTorch's ragged batch: packed, run, padded back
            inp = nn.utils.rnn.pack_padded_sequence(
                x, env[a["lengths"]].to(torch.int64).cpu(), batch_first=True,
                enforce_sorted=False)
        if op == "lstm":
            c0 = env[a["c0"]] if "c0" in a else torch.zeros(L * D, B, H)
            y, (hn, cn) = m(inp, (h0, c0))
            env[name + ".c_n"] = cn
        else:
            y, hn = m(inp, h0)
        if "lengths" in a:
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=T)
        env[name + ".h_n"] = hn
        return y

    def scan(self, name, a, env, dims):
        over = {k: env[v] for k, v in a["over"].items()}
        chunk, reverse = a.get("chunk", 1), a.get("reverse", False)
        state = {}
        for k, v in (a.get("state") or {}).items():
            if isinstance(v, dict):
                state[k] = torch.zeros([dims[d] if isinstance(d, str) else d for d in v["zeros"]])
            else:
                state[k] = env[v]
        emits = a.get("emit") or []
        emits = [emits] if isinstance(emits, str) else emits
        T = next(iter(over.values())).shape[1]
        steps = T // chunk
        if name not in self.mods:
            self.mods[name] = nn.ModuleDict()
        body = Reference({"nodes": a["body"]}, self.gen)
        body.mods = self.mods[name]
        got = {e: [None] * steps for e in emits}
        lengths = env[a["lengths"]].to(torch.int64) if "lengths" in a else None
        for j in range(steps):
            s = steps - 1 - j if reverse else j
            benv = dict(env)
            benv.update(state)
            for k, x in over.items():
                benv[k] = x[:, s] if chunk == 1 else x[:, s * chunk:(s + 1) * chunk]
            for n, node in a["body"].items():
                benv[n] = body.node(n, dict(node), benv, dims)
            nxt = {k: benv[v] for k, v in a["next"].items()}
            if lengths is not None:  # row b is active at step s iff s < lengths[b]
                on = s < lengths
                for e in emits:
                    v = benv[e]
                    benv[e] = torch.where(on.view(-1, *[1] * (v.dim() - 1)), v,
                                          torch.zeros_like(v))
                nxt = {k: torch.where(on.view(-1, *[1] * (v.dim() - 1)), v, state[k])
                       for k, v in nxt.items()}
            for e in emits:
                got[e][s] = benv[e]
            state = nxt
        first = None
        for e in emits:
            parts = got[e]
            segs = chunk > 1 and parts[0].dim() >= 3 and parts[0].shape[1] == chunk
            env[f"{name}.{e}"] = torch.cat(parts, 1) if segs else torch.stack(parts, 1)
            first = env[f"{name}.{e}"] if first is None else first
        for k, v in state.items():
            env[f"{name}.{k}"] = v
        return first if first is not None else next(iter(state.values()))


def make_input(kind, shape, opts, dims, g):
    """gen.py's inputs, plus 'i64[B]=5,1,7': exactly those values"""
    if opts.startswith("="):
        vals = [int(v) for v in opts[1:].split(",")]
        size = [dims[d] if isinstance(d, str) else d for d in shape]
        assert size == [len(vals)], f"{vals} do not fill {size}"
        return torch.tensor(vals, dtype=torch.int32 if kind == "i32" else torch.int64)
    return GEN_MAKE_INPUT(kind, shape, opts, dims, g)


GEN_MAKE_INPUT = gen.make_input


# gen.py's writer, with this reference and these inputs
def write_case(name, text, specs, dims):
    saved = gen.Reference, gen.make_input
    gen.Reference, gen.make_input = Reference, make_input
    try:
        gen.write_case(name, text, specs, dims)
    finally:
        gen.Reference, gen.make_input = saved


def define_cases():
    c = gen.case
    # nn.RNN: tanh and relu, odd sizes, T = 1 and batch 1, stacked bidirectional with h0
    c("rnn_tanh", {"x": "f32[B,T,5]"}, [("r", {"op": "rnn", "input": "x", "hidden_size": 7})],
      outputs=["r", "r.h_n"])
    c("rnn_relu", {"x": "f32[B,T,5]"},
      [("r", {"op": "rnn", "input": "x", "hidden_size": 9, "nonlinearity": "relu"})],
      outputs=["r", "r.h_n"])
    c("rnn_t1_b1", {"x": "f32[B,T,4]"}, [("r", {"op": "rnn", "input": "x", "hidden_size": 3})],
      outputs=["r", "r.h_n"], dims={"B": 1, "T": 1})
    c("rnn_bidir_stacked_h0", {"x": "f32[B,T,5]", "h": "f32[4,B,6]"},
      [("r", {"op": "rnn", "input": "x", "hidden_size": 6, "num_layers": 2,
              "bidirectional": True, "h0": "h"})], outputs=["r", "r.h_n"])
    c("rnn_nobias", {"x": "f32[B,T,5]"},
      [("r", {"op": "rnn", "input": "x", "hidden_size": 5, "bias": False})],
      outputs=["r", "r.h_n"])
    # nn.LSTM
    c("lstm_basic", {"x": "f32[B,T,5]"}, [("l", {"op": "lstm", "input": "x", "hidden_size": 9})],
      outputs=["l", "l.h_n", "l.c_n"])
    c("lstm_t1_b1", {"x": "f32[B,T,6]"}, [("l", {"op": "lstm", "input": "x", "hidden_size": 5})],
      outputs=["l", "l.h_n", "l.c_n"], dims={"B": 1, "T": 1})
    c("lstm_bidir_stacked_h0c0", {"x": "f32[B,T,5]", "h": "f32[4,B,7]", "c": "f32[4,B,7]"},
      [("l", {"op": "lstm", "input": "x", "hidden_size": 7, "num_layers": 2,
              "bidirectional": True, "h0": "h", "c0": "c"})], outputs=["l", "l.h_n", "l.c_n"])
    c("lstm_proj", {"x": "f32[B,T,5]"},
      [("l", {"op": "lstm", "input": "x", "hidden_size": 7, "proj_size": 3, "num_layers": 2,
              "bidirectional": True})], outputs=["l", "l.h_n", "l.c_n"])
    c("lstm_long", {"x": "f32[B,T,4]"}, [("l", {"op": "lstm", "input": "x", "hidden_size": 8})],
      outputs=["l", "l.h_n", "l.c_n"], dims={"B": 1, "T": 2000})
    c("lstm_peephole", {"x": "f32[B,T,5]"},
      [("l", {"op": "lstm", "input": "x", "hidden_size": 6, "peephole": True,
              "bidirectional": True, "num_layers": 2})], outputs=["l", "l.h_n", "l.c_n"])
    # nn.GRU
    c("gru_basic", {"x": "f32[B,T,5]"}, [("g", {"op": "gru", "input": "x", "hidden_size": 9})],
      outputs=["g", "g.h_n"])
    c("gru_t1_b1", {"x": "f32[B,T,3]"}, [("g", {"op": "gru", "input": "x", "hidden_size": 4})],
      outputs=["g", "g.h_n"], dims={"B": 1, "T": 1})
    c("gru_bidir_stacked_h0", {"x": "f32[B,T,5]", "h": "f32[4,B,7]"},
      [("g", {"op": "gru", "input": "x", "hidden_size": 7, "num_layers": 2,
              "bidirectional": True, "h0": "h"})], outputs=["g", "g.h_n"])
    # scan: SPEC section 4's cell, reverse, chunk 2 with per-segment and per-step emits
    cell = {"a": {"op": "linear", "input": "x", "out_features": 6},
            "b": {"op": "linear", "input": "h", "out_features": 6, "bias": False},
            "s": {"op": "add", "inputs": ["a", "b"]},
            "hn": {"op": "tanh", "input": "s"}}
    c("scan_cell", {"x": "f32[B,T,5]"},
      [("cell", {"op": "scan", "over": {"x": "x"}, "state": {"h": {"zeros": ["B", 6]}},
                 "body": cell, "next": {"h": "hn"}, "emit": ["hn"]})],
      outputs=["cell", "cell.h"])
    c("scan_reverse_h0", {"x": "f32[B,T,5]", "h0": "f32[B,6]"},
      [("cell", {"op": "scan", "over": {"x": "x"}, "reverse": True, "state": {"h": "h0"},
                 "body": cell, "next": {"h": "hn"}, "emit": ["hn", "s"]})],
      outputs=["cell", "cell.s", "cell.h"])
    # per-segment [B, H] emits at a constant T (see scan_chunk4_segments_sym for a symbolic one)
    c("scan_chunk2", {"x": "f32[B,6,4]", "g": "f32[4]"},
      [("cell", {"op": "scan", "over": {"x": "x"}, "chunk": 2,
                 "state": {"m": {"zeros": ["B", 4]}},
                 "body": {"avg": {"op": "mean", "input": "x", "dim": 1},
                          "mix": {"op": "add", "inputs": ["avg", "m"]},
                          "mn": {"op": "linear", "input": "mix", "out_features": 4},
                          "act": {"op": "tanh", "input": "mn"},
                          "gx": {"op": "mul", "inputs": ["x", "g"]},
                          "y": {"op": "add", "inputs": ["gx", "x"]}},
                 "next": {"m": "act"}, "emit": ["y", "act"]})],
      outputs=["cell", "cell.act", "cell.m"], dims={"B": 2})
    c("scan_chunk3_sym", {"x": "f32[B,T,4]"},
      [("cell", {"op": "scan", "over": {"x": "x"}, "chunk": 3, "reverse": True,
                 "state": {"m": {"zeros": ["B", 4]}},
                 "body": {"avg": {"op": "mean", "input": "x", "dim": 1},
                          "mix": {"op": "add", "inputs": ["avg", "m"]},
                          "act": {"op": "tanh", "input": "mix"},
                          "y": {"op": "tanh", "input": "x"}},
                 "next": {"m": "act"}, "emit": ["y"]})],
      outputs=["cell", "cell.m"], dims={"B": 2, "T": 9})
    # one row per segment over a symbolic T: T/4 is a derived dim, then a layer on it
    c("scan_chunk4_segments_sym", {"x": "f32[B,T,5]"},
      [("cell", {"op": "scan", "over": {"x": "x"}, "chunk": 4,
                 "state": {"m": {"zeros": ["B", 6]}},
                 "body": {"avg": {"op": "mean", "input": "x", "dim": 1},
                          "fc": {"op": "linear", "input": "avg", "out_features": 6},
                          "mix": {"op": "add", "inputs": ["fc", "m"]},
                          "act": {"op": "tanh", "input": "mix"}},
                 "next": {"m": "act"}, "emit": ["act"]}),
       ("head", {"op": "linear", "input": "cell", "out_features": 3})],
      outputs=["head", "cell.m"], dims={"B": 2, "T": 36})
    c("scan_two_states", {"x": "f32[B,T,3]"},
      [("cell", {"op": "scan", "over": {"x": "x"},
                 "state": {"h": {"zeros": ["B", 3]}, "k": {"zeros": ["B", 3]}},
                 "body": {"u": {"op": "add", "inputs": ["x", "k"]},
                          "hn": {"op": "tanh", "input": "u"},
                          "kn": {"op": "add", "inputs": ["k", "h"]},
                          "ks": {"op": "mul", "inputs": ["kn", 0.5]}},
                 "next": {"h": "hn", "k": "ks"}, "emit": ["hn"]})],
      outputs=["cell", "cell.h", "cell.k"])
    # lengths (SPEC 11): PyTorch's packed sequences; unsorted, one row of full length
    c("lstm_lengths_bidir_stacked", {"x": "f32[B,T,5]", "n": "i64[B]=3,7,1,5"},
      [("l", {"op": "lstm", "input": "x", "hidden_size": 7, "num_layers": 2,
              "bidirectional": True, "lengths": "n"})], outputs=["l", "l.h_n", "l.c_n"],
      dims={"B": 4, "T": 7})
    c("gru_lengths_h0", {"x": "f32[B,T,5]", "h": "f32[1,B,6]", "n": "i32[B]=2,6,4"},
      [("g", {"op": "gru", "input": "x", "hidden_size": 6, "h0": "h", "lengths": "n"})],
      outputs=["g", "g.h_n"], dims={"B": 3, "T": 6})
    c("rnn_relu_lengths", {"x": "f32[B,T,5]", "n": "i64[B]=4,9,1,6,9"},
      [("r", {"op": "rnn", "input": "x", "hidden_size": 8, "nonlinearity": "relu",
              "lengths": "n"})], outputs=["r", "r.h_n"], dims={"B": 5, "T": 9})
    c("lstm_lengths_b1", {"x": "f32[B,T,4]", "n": "i64[B]=3"},
      [("l", {"op": "lstm", "input": "x", "hidden_size": 5, "bidirectional": True,
              "lengths": "n"})], outputs=["l", "l.h_n", "l.c_n"], dims={"B": 1, "T": 6})
    # sorted, longest first (enforce_sorted=True's order): the steps run on the active rows only
    c("gru_lengths_sorted_bidir", {"x": "f32[B,T,5]", "n": "i64[B]=9,7,4,4,1"},
      [("g", {"op": "gru", "input": "x", "hidden_size": 6, "num_layers": 2,
              "bidirectional": True, "lengths": "n"})], outputs=["g", "g.h_n"],
      dims={"B": 5, "T": 9})
    for rev in (False, True):
        c("scan_lengths" + ("_reverse" if rev else ""),
          {"x": "f32[B,T,5]", "h0": "f32[B,6]", "n": "i64[B]=2,7,5"},
          [("cell", {"op": "scan", "over": {"x": "x"}, "reverse": rev, "lengths": "n",
                     "state": {"h": "h0", "k": {"zeros": ["B", 6]}},
                     "body": dict(cell, kn={"op": "add", "inputs": ["k", "hn"]}),
                     "next": {"h": "hn", "k": "kn"}, "emit": ["hn", "s"]})],
          outputs=["cell", "cell.s", "cell.h", "cell.k"], dims={"B": 3, "T": 7})
    # the models/ files
    gen.model_case("models/rnn.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/birnn_stacked.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/lstm.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/bilstm_stacked.yaml",
                   {"x": "f32[B,T,32]", "h0": "f32[4,B,32]", "c0": "f32[4,B,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/lstm_peephole.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/gru.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/scan_cell.yaml", {"x": "f32[B,T,32]"}, {"B": 2, "T": 9})
    gen.model_case("models/lstm_classifier.yaml",
                   {"tokens": "i32[B,T]<1000", "lengths": "i64[B]=11,4,7"}, {"B": 3, "T": 11})


def ours(name):
    return name.startswith(PREFIXES) or name in ["model_" + m for m in MODELS]


def check_cases():
    """gen.py's check over our cases only, with this reference."""
    saved_list, saved_ref = os.listdir, gen.Reference
    gen.Reference = Reference
    gen.os.listdir = lambda p: [n for n in saved_list(p) if p != gen.CASES or ours(n)]
    try:
        return gen.check_cases()
    finally:
        gen.os.listdir, gen.Reference = saved_list, saved_ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only verify our cases")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if not a.check:
        define_cases()
        os.makedirs(gen.CASES, exist_ok=True)
        for n in os.listdir(gen.CASES):
            if ours(n):
                shutil.rmtree(os.path.join(gen.CASES, n))
        for name, text, specs, dims in gen.CASE_LIST:
            write_case(name, text, specs, dims)
        print(f"wrote {len(gen.CASE_LIST)} cases to {os.path.relpath(gen.CASES, gen.ROOT)}")
    total = check_cases()
    if total > 1.5e6:
        print(f"warning: recurrent golden data is {total / 1e6:.2f} MB, over ~1.5 MB",
              file=sys.stderr)


if __name__ == "__main__":
    main()

"""bench/peers/workloads.py: the peers' workloads, one place for every runner.

The names match the YAML files in bench/ (lstm_b1 is bench/lstm_b1.yaml, encoder
is bench/transformer_encoder.yaml, longattn_N is bench/longattn.yaml at T=N), so
the bench scripts can put seqc's row beside each peer's. Every model is
float32, built right after torch.manual_seed(0) (weights) and fed inputs drawn
right after torch.manual_seed(1). Initial RNN states are zeros (the nn.*
default). Only /usr/bin/python3 (Debian python3-torch 1.13) is supported.

FLOP convention (used for every peer's GFLOP/s): 2 x multiply-accumulates of
all matrix products -- RNN gate GEMMs, Linear layers, attention QK^T and AV --
counted in full (gpt's causal mask is NOT discounted).  Bias adds,
activations, softmax and layer norm are not counted.
"""
import math
import os

import torch
import torch.nn as nn


# Where prepare.py writes each workload's input, reference output, ONNX model and
# oneDNN weights (bench/out/peers/artifacts: generated, so outside the source tree).
ARTIFACTS = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "out", "peers", "artifacts"))


class GPT(nn.Module):
    """gpt: 4 independently initialised TransformerEncoderLayers + causal mask."""

    def __init__(self, d=256, nhead=4, ff=1024, nlayers=4, seq=512):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(d, nhead, ff, dropout=0.0,
                                       batch_first=True)
            for _ in range(nlayers)])
        mask = torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x, src_mask=self.mask)
        return x


class SelfMHA(nn.Module):
    """longattn_N: self-attention through one nn.MultiheadAttention (batch_first,
    need_weights=False -- the inference call that also allows 1.13's fast
    path)."""

    def __init__(self, d=256, heads=4):
        super().__init__()
        self.mha = nn.MultiheadAttention(d, heads, dropout=0.0,
                                         batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


class RNNOut(nn.Module):
    """Wraps nn.LSTM/GRU/RNN so that forward returns only the output
    sequence (the tensor all peers are checked on)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def _rnn_flops(kind, seq, batch, inp, hid, layers, dirs):
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    total = 0
    for l in range(layers):
        i = inp if l == 0 else hid * dirs
        total += dirs * seq * 2 * batch * (i + hid) * gates * hid
    return total


def _encoder_flops(tokens, batch, seq, d, nhead, ff):
    proj = 2 * tokens * d * 3 * d + 2 * tokens * d * d
    ffn = 2 * 2 * tokens * d * ff
    attn = 2 * 2 * batch * seq * seq * d  # QK^T + AV over all heads
    return proj + ffn + attn


# name -> spec.  kind/params are also what onednn_rnn.c gets told.
WORKLOADS = {
    "lstm_b1": dict(kind="lstm", seq=128, batch=1, inp=256, hid=256,
                    layers=1, dirs=1),
    "lstm_b64": dict(kind="lstm", seq=128, batch=64, inp=512, hid=512,
                     layers=1, dirs=1),
    "gru_b1": dict(kind="gru", seq=128, batch=1, inp=256, hid=256,
                   layers=1, dirs=1),
    "birnn": dict(kind="rnn", seq=128, batch=8, inp=256, hid=256,
                  layers=2, dirs=2),
    "encoder": dict(kind="encoder", seq=128, batch=8, d=512, nhead=8,
                    ff=2048),
    "gpt": dict(kind="gpt", seq=512, batch=1, d=256, nhead=4, ff=1024,
                nlayers=4),
    "longattn_1024": dict(kind="mha", seq=1024, batch=1, d=256, nhead=4),
    "longattn_4096": dict(kind="mha", seq=4096, batch=1, d=256, nhead=4),
    "longattn_8192": dict(kind="mha", seq=8192, batch=1, d=256, nhead=4),
}

RNN_WORKLOADS = [k for k, v in WORKLOADS.items()
                 if v["kind"] in ("lstm", "gru", "rnn")]


def flops(name):
    s = WORKLOADS[name]
    k = s["kind"]
    if k in ("lstm", "gru", "rnn"):
        return _rnn_flops(k, s["seq"], s["batch"], s["inp"], s["hid"],
                          s["layers"], s["dirs"])
    if k == "encoder":
        return _encoder_flops(s["seq"] * s["batch"], s["batch"], s["seq"],
                              s["d"], s["nhead"], s["ff"])
    if k == "gpt":
        return s["nlayers"] * _encoder_flops(s["seq"] * s["batch"], s["batch"],
                                             s["seq"], s["d"], s["nhead"],
                                             s["ff"])
    if k == "mha":
        L, d = s["seq"] * s["batch"], s["d"]
        return 2 * L * d * 3 * d + 2 * L * d * d + 2 * 2 * s["batch"] * s["seq"] ** 2 * d
    raise KeyError(name)


def build(name):
    """Returns (model in eval mode, example input)."""
    s = WORKLOADS[name]
    k = s["kind"]
    torch.manual_seed(0)
    if k == "lstm":
        m = RNNOut(nn.LSTM(s["inp"], s["hid"], num_layers=s["layers"],
                           bidirectional=s["dirs"] == 2))
    elif k == "gru":
        m = RNNOut(nn.GRU(s["inp"], s["hid"], num_layers=s["layers"],
                          bidirectional=s["dirs"] == 2))
    elif k == "rnn":
        m = RNNOut(nn.RNN(s["inp"], s["hid"], num_layers=s["layers"],
                          nonlinearity="tanh",
                          bidirectional=s["dirs"] == 2))
    elif k == "encoder":
        m = nn.TransformerEncoderLayer(s["d"], s["nhead"], s["ff"],
                                       dropout=0.0, batch_first=True)
    elif k == "gpt":
        m = GPT(s["d"], s["nhead"], s["ff"], s["nlayers"], s["seq"])
    elif k == "mha":
        m = SelfMHA(s["d"], s["nhead"])
    else:
        raise KeyError(name)
    m = m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    torch.manual_seed(1)
    if k in ("lstm", "gru", "rnn"):
        # nn.RNN default layout: (seq, batch, feature)
        x = torch.randn(s["seq"], s["batch"], s["inp"])
    else:
        x = torch.randn(s["batch"], s["seq"], s["d"])
    return m, x


def percentile(sorted_vals, q):
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    n = len(sorted_vals)
    if n == 1:
        return sorted_vals[0]
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)

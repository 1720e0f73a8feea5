#!/usr/bin/python3
"""ref_t5.py: a port of Hugging Face's T5 stacks for SPEC 10's t5_encoder and t5_decoder.

    /usr/bin/python3 tests/golden/ref_t5.py          # the cross-checks below
    /usr/bin/python3 tests/golden/ref_t5.py --scan   # also the bucket scan (minutes)

transformers' modeling_t5.py (T5LayerNorm, T5DenseActDense,
T5DenseGatedActDense, T5Attention with its _relative_position_bucket and
compute_bias, T5LayerSelfAttention, T5LayerCrossAttention, T5LayerFF, T5Block,
T5Stack) written again as nn.Modules with HF's attribute names, so that a
stack's state_dict() holds exactly HF's parameter names
(`block.0.layer.0.SelfAttention.q.weight`, ...), which SPEC 10 makes seqc's.
What HF's T5Stack does and SPEC 10 leaves out is left out here: the token
embedding (its own `embedding` node), the padding mask, dropout (eval mode),
head pruning, the float16 clamps.

The goldens compute in float64 from the float32 weights the files hold
(`.double()` on a stack loaded from them) and round once. T5LayerNorm takes
the variance in float32 "at least": HF's `.to(torch.float32)` is there to
widen half precision; on a float64 stack the variance stays float64 here.

Two bucket functions, meant to agree everywhere the goldens look:
  relative_position_bucket  HF's _relative_position_bucket, float32 log and
                            all, on a tensor of relative positions
  spec_bucket               SPEC 10's formula text on one integer: the exact
                            integer decision (kind="int": n^(N-E)·E^k against
                            max_distance^k·E^(N-E), no logarithm at all) or
                            the double one (kind="double")
__main__ checks that both agree with HF's for every relative position in
-300..300 at (N, max_distance) in {(32, 128), (8, 20), (4, 6)} both ways and
(2, 5) causal; that the bucket is constant from max_distance on (and from
-max_distance down); that the state_dict's names and shapes are SPEC 10's
list; that the modules equal t5_direct, SPEC 10's text read a second way
(plain tensors, one query row and head at a time, spec_bucket's buckets);
and that a decoder run token by token with its key/value cache equals the
decoder run on the whole sequence.

--scan compares over every (N, max_distance) with N < 130, max_distance <
520 and distances up to 3000: HF's float32 buckets against the integer and
double readings and against a float32 evaluation in HF's order with C's
logf (what a C implementation can reproduce), and prints the counts.
"""
import argparse
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- the relative position buckets ------------------------------------------


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32,
                             max_distance=128):
    """HF's T5Attention._relative_position_bucket: relative_position = key
    position - query position (a long tensor); the bucket of each, a long
    tensor in [0, num_buckets). The large distances go through a float32
    logarithm truncated by .to(torch.long), exactly as HF does."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    # the first half of the buckets: one per distance
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    # the other half: logarithmically wider, up to max_distance
    if_large = max_exact + (torch.log(relative_position.float() / max_exact)
                            / math.log(max_distance / max_exact)
                            * (num_buckets - max_exact)).to(torch.long)
    if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, if_large)


def spec_bucket(r, bidirectional, N, max_distance, kind="int"):
    """SPEC 10's text, for one integer r = key position - query position.
    Bidirectional: n = |r|, base = N/2 if r > 0 else 0, N halved; causal:
    n = max(-r, 0), base = 0. With E = floor(N/2): base + n if n < E, else
    base + min(N - 1, E + floor(ln(n/E) / ln(max_distance/E) · (N - E))).
    kind "int" decides the floor without logarithms: floor(...) >= k iff
    (n/E)^(N-E) >= (max_distance/E)^k iff n^(N-E)·E^k >= max_distance^k·E^(N-E)
    (Python's integers are exact); kind "double" evaluates the formula in
    double precision."""
    if bidirectional:
        base = N // 2 if r > 0 else 0
        n = abs(r)
        N //= 2
    else:
        base = 0
        n = max(-r, 0)
    E = N // 2
    if n < E:
        return base + n
    if kind == "double":
        return base + min(N - 1, E + math.floor(math.log(n / E) / math.log(max_distance / E)
                                                * (N - E)))
    P = N - E
    k = 0
    while k < N and n ** P * E ** (k + 1) >= max_distance ** (k + 1) * E ** P:
        k += 1
    return base + min(N - 1, E + k)


# ---- the modules, under HF's names ---------------------------------------------


class Config:
    """The attributes of a t5_encoder / t5_decoder node (SPEC 10), with their
    defaults, plus d_model (the input's last dim) and whether it decodes."""

    def __init__(self, d_model, num_layers, num_heads, d_kv, d_ff, feed_forward_proj="relu",
                 relative_attention_num_buckets=32, relative_attention_max_distance=128,
                 layer_norm_epsilon=1e-6, is_decoder=False):
        assert feed_forward_proj in ("relu", "gated-gelu"), feed_forward_proj
        self.d_model = d_model  # D
        self.num_layers = num_layers  # blocks in the stack
        self.num_heads = num_heads  # H
        self.d_kv = d_kv  # the width of one head's queries, keys and values
        self.d_ff = d_ff  # the feed-forward's inner width
        self.feed_forward_proj = feed_forward_proj  # relu | gated-gelu
        self.relative_attention_num_buckets = relative_attention_num_buckets  # N
        self.relative_attention_max_distance = relative_attention_max_distance
        self.layer_norm_epsilon = layer_norm_epsilon
        self.is_decoder = is_decoder  # causal self-attention, cross-attention

    @staticmethod
    def from_node(attrs, d_model, is_decoder):
        """from a YAML node's attributes (op, input, memory and cache dropped)"""
        keep = {k: v for k, v in attrs.items() if k not in ("op", "input", "memory", "cache")}
        if "layer_norm_epsilon" in keep:
            keep["layer_norm_epsilon"] = float(keep["layer_norm_epsilon"])
        return Config(d_model, is_decoder=is_decoder, **keep)


class T5LayerNorm(nn.Module):
    """RMS norm without mean or bias: weight · x / sqrt(mean(x²) + eps), the
    mean of squares in float32 or wider."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, x):
        wide = torch.promote_types(x.dtype, torch.float32)
        variance = x.to(wide).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


def gelu_new(x):
    """HF's NewGELUActivation: the tanh approximation"""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class T5DenseActDense(nn.Module):
    """relu: wo(relu(wi x))"""

    def __init__(self, c):
        super().__init__()
        self.wi = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)

    def forward(self, x):
        return self.wo(torch.relu(self.wi(x)))


class T5DenseGatedActDense(nn.Module):
    """gated-gelu: wo(gelu_new(wi_0 x) · wi_1 x)"""

    def __init__(self, c):
        super().__init__()
        self.wi_0 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wi_1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)

    def forward(self, x):
        return self.wo(gelu_new(self.wi_0(x)) * self.wi_1(x))


class T5Attention(nn.Module):
    """Multi-head attention without 1/sqrt(d_kv) scaling and without biases.
    With has_relative_attention_bias (layer 0's self-attention only) it owns
    the bucket embedding [N, H] that every layer's scores get added."""

    def __init__(self, c, has_relative_attention_bias=False):
        super().__init__()
        self.is_decoder = c.is_decoder
        self.has_relative_attention_bias = has_relative_attention_bias
        self.num_buckets = c.relative_attention_num_buckets
        self.max_distance = c.relative_attention_max_distance
        self.n_heads, self.d_kv = c.num_heads, c.d_kv
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.n_heads)

    def compute_bias(self, query_length, key_length):
        """[1, H, query_length, key_length]: query i at position i, key j at j"""
        context = torch.arange(query_length, dtype=torch.long)[:, None]
        memory = torch.arange(key_length, dtype=torch.long)[None, :]
        bucket = relative_position_bucket(memory - context, bidirectional=not self.is_decoder,
                                          num_buckets=self.num_buckets,
                                          max_distance=self.max_distance)
        return self.relative_attention_bias(bucket).permute(2, 0, 1).unsqueeze(0)

    def heads(self, t, B):
        return t.view(B, -1, self.n_heads, self.d_kv).transpose(1, 2)

    def forward(self, x, mask=None, key_value_states=None, position_bias=None, past=None):
        """x [B, T, D]; key_value_states: the memory for cross-attention;
        past: (keys, values) [B, H, P, d_kv] kept from earlier calls (for
        cross-attention: the memory's, reused as they are). Returns (output,
        (keys, values) now, the position bias used, for the later layers)."""
        B, T = x.shape[:2]
        q = self.heads(self.q(x), B)
        if key_value_states is None:  # self-attention: the new keys after the kept ones
            k, v = self.heads(self.k(x), B), self.heads(self.v(x), B)
            if past is not None:
                k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        elif past is not None:
            k, v = past
        else:
            k = self.heads(self.k(key_value_states), B)
            v = self.heads(self.v(key_value_states), B)
        real_len = T + (past[0].shape[2] if past is not None and key_value_states is None else 0)
        key_len = k.shape[2]
        scores = q @ k.transpose(3, 2)
        if position_bias is None:
            if self.has_relative_attention_bias:
                position_bias = self.compute_bias(real_len, key_len)
            else:
                position_bias = torch.zeros(1, self.n_heads, real_len, key_len, dtype=scores.dtype)
            # with a cache the queries are the last T positions of real_len
            position_bias = position_bias[:, :, -T:, :]
            if mask is not None:
                position_bias = position_bias + mask
        scores = scores + position_bias
        # HF's softmax(scores.float()).type_as(scores) widens half precision;
        # a float64 stack keeps float64
        weights = F.softmax(scores, dim=-1)
        a = (weights @ v).transpose(1, 2).reshape(B, T, self.n_heads * self.d_kv)
        return self.o(a), (k, v), position_bias


class T5LayerSelfAttention(nn.Module):
    def __init__(self, c, has_relative_attention_bias):
        super().__init__()
        self.SelfAttention = T5Attention(c, has_relative_attention_bias)
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)

    def forward(self, x, mask, position_bias, past):
        a, kv, bias = self.SelfAttention(self.layer_norm(x), mask=mask,
                                         position_bias=position_bias, past=past)
        return x + a, kv, bias


class T5LayerCrossAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.EncDecAttention = T5Attention(c, has_relative_attention_bias=False)
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)

    def forward(self, x, memory, position_bias, past):
        a, kv, bias = self.EncDecAttention(self.layer_norm(x), key_value_states=memory,
                                           position_bias=position_bias, past=past)
        return x + a, kv, bias


class T5LayerFF(nn.Module):
    def __init__(self, c):
        super().__init__()
        gated = c.feed_forward_proj == "gated-gelu"
        self.DenseReluDense = T5DenseGatedActDense(c) if gated else T5DenseActDense(c)
        self.layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class T5Block(nn.Module):
    """layer.0 self-attention, (decoder) layer.1 cross-attention, then the
    feed-forward, each a pre-norm residual"""

    def __init__(self, c, has_relative_attention_bias):
        super().__init__()
        self.is_decoder = c.is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(c, has_relative_attention_bias)])
        if c.is_decoder:
            self.layer.append(T5LayerCrossAttention(c))
        self.layer.append(T5LayerFF(c))

    def forward(self, x, mask, position_bias, memory, cross_bias, past):
        x, self_kv, position_bias = self.layer[0](x, mask, position_bias,
                                                  past[:2] if past is not None else None)
        present = self_kv
        if self.is_decoder:
            x, cross_kv, cross_bias = self.layer[1](x, memory, cross_bias,
                                                    past[2:] if past is not None else None)
            present = present + cross_kv
        return self.layer[-1](x), present, position_bias, cross_bias


class T5Stack(nn.Module):
    """HF's T5Stack from the embedded input on: the blocks (block 0 owning the
    relative attention bias) and final_layer_norm. forward(x, memory, past)
    -> (y, present): past/present hold per block (self keys, self values[,
    cross keys, cross values]), the self ones growing by x's length."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.is_decoder = c.is_decoder
        self.block = nn.ModuleList([T5Block(c, i == 0) for i in range(c.num_layers)])
        self.final_layer_norm = T5LayerNorm(c.d_model, c.layer_norm_epsilon)

    def forward(self, x, memory=None, past=None):
        B, T = x.shape[:2]
        mask = None
        if self.is_decoder:
            # HF's extended causal mask: query i (position P + i) sees keys 0 .. P + i
            P = past[0][0].shape[2] if past is not None else 0
            keys = torch.arange(P + T)[None, :]
            queries = torch.arange(T)[:, None] + P
            mask = torch.zeros(T, P + T, dtype=x.dtype)
            mask = mask.masked_fill(keys > queries, torch.finfo(x.dtype).min)[None, None]
        position_bias = cross_bias = None
        present = []
        for i, blk in enumerate(self.block):
            x, kv, position_bias, cross_bias = blk(x, mask, position_bias, memory, cross_bias,
                                                   past[i] if past is not None else None)
            present.append(kv)
        return self.final_layer_norm(x), present


def init_like_hf(stack, gen, bias_std=1.0):
    """Random weights of the sizes T5's initialisation gives (its
    _init_weights with factor 1), so activations stay of order one through
    the layers; norm weights around 1 (not exactly, which would hide bugs)
    and a relative attention bias of bias_std (trained ones are of order
    one, far above HF's d_model^-0.5, and a weak bias would hide bucket bugs)."""
    c = stack.config
    D, dkv, H, ff = c.d_model, c.d_kv, c.num_heads, c.d_ff

    def normal(p, std, mean=0.0):
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * std + mean)

    for name, p in stack.named_parameters():
        leaf = name.split(".")[-2]
        if name.endswith("layer_norm.weight"):
            normal(p, 0.2, 1.0)
        elif leaf == "q":
            normal(p, (D * dkv) ** -0.5)
        elif leaf in ("k", "v", "wi", "wi_0", "wi_1"):
            normal(p, D ** -0.5)
        elif leaf == "o":
            normal(p, (H * dkv) ** -0.5)
        elif leaf == "wo":
            normal(p, ff ** -0.5)
        elif leaf == "relative_attention_bias":
            normal(p, bias_std)
        else:
            raise AssertionError("no initialisation for " + name)


def spec_param_names(c):
    """Every parameter SPEC 10 lists for a stack, with its shape, written from
    SPEC's text (not from the modules), to check state_dict() against."""
    D, inner, N = c.d_model, c.num_heads * c.d_kv, c.relative_attention_num_buckets
    names = {}
    ff = "2" if c.is_decoder else "1"
    for n in range(c.num_layers):
        b = "block.%d.layer." % n
        for m in "qkv":
            names[b + "0.SelfAttention.%s.weight" % m] = [inner, D]
        names[b + "0.SelfAttention.o.weight"] = [D, inner]
        names[b + "0.layer_norm.weight"] = [D]
        if c.is_decoder:
            for m in "qkv":
                names[b + "1.EncDecAttention.%s.weight" % m] = [inner, D]
            names[b + "1.EncDecAttention.o.weight"] = [D, inner]
            names[b + "1.layer_norm.weight"] = [D]
        if c.feed_forward_proj == "relu":
            names[b + ff + ".DenseReluDense.wi.weight"] = [c.d_ff, D]
        else:
            names[b + ff + ".DenseReluDense.wi_0.weight"] = [c.d_ff, D]
            names[b + ff + ".DenseReluDense.wi_1.weight"] = [c.d_ff, D]
        names[b + ff + ".DenseReluDense.wo.weight"] = [D, c.d_ff]
        names[b + ff + ".layer_norm.weight"] = [D]
    names["block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = [N, c.num_heads]
    names["final_layer_norm.weight"] = [D]
    return names


# ---- the cross-checks ------------------------------------------------------------

BUCKET_CONFIGS = [  # (N, max_distance, directions)
    (32, 128, (True, False)), (8, 20, (True, False)), (4, 6, (True, False)), (2, 5, (False,)),
]


def check_buckets():
    r = torch.arange(-300, 301)
    for N, M, dirs in BUCKET_CONFIGS:
        for bi in dirs:
            hf = relative_position_bucket(r, bidirectional=bi, num_buckets=N, max_distance=M)
            for kind in ("int", "double"):
                mine = torch.tensor([spec_bucket(x, bi, N, M, kind) for x in r.tolist()])
                bad = (hf != mine).nonzero().flatten()
                assert not len(bad), "N %d max_distance %d %s, %s: r %s: HF %s, SPEC %s" % (
                    N, M, "bidirectional" if bi else "causal", kind, r[bad[:5]].tolist(),
                    hf[bad[:5]].tolist(), mine[bad[:5]].tolist())
            assert hf.min() >= 0 and hf.max() < N
            # constant from max_distance on, and (bidirectional) from -max_distance down
            far = hf[r <= -M]
            assert (far == far[0]).all(), "not constant for r <= -max_distance"
            if bi:
                far = hf[r >= M]
                assert (far == far[0]).all(), "not constant for r >= max_distance"
                assert hf[r >= M][0] == N - 1 and hf[r <= -M][0] == N // 2 - 1
            else:
                assert hf[r <= -M][0] == N - 1 and (hf[r >= 0] == 0).all()
            print("buckets N %2d max_distance %3d %-13s: HF = integer = double over -300..300"
                  % (N, M, "bidirectional" if bi else "causal"))


def check_decoder_cache():
    """a decoder stack run one token at a time with its cache (and a piece of
    3 after a prompt of 4) equals the same stack run on the whole sequence"""
    g = torch.Generator().manual_seed(21)
    worst = 0.0
    for ffp, N, M in (("relu", 32, 128), ("gated-gelu", 8, 6)):
        c = Config(16, 2, 3, 5, 24, feed_forward_proj=ffp, relative_attention_num_buckets=N,
                   relative_attention_max_distance=M, is_decoder=True)
        dec = T5Stack(c).double().eval()
        init_like_hf(dec, g)
        B, S, T = 2, 7, 13
        x = torch.randn(B, T, 16, generator=g, dtype=torch.float64)
        memory = torch.randn(B, S, 16, generator=g, dtype=torch.float64)
        with torch.no_grad():
            whole, _ = dec(x, memory)
            for pieces in ([1] * T, [4, 3, 1, 5]):
                past, outs, at = None, [], 0
                for n in pieces:
                    y, past = dec(x[:, at:at + n], memory, past)
                    outs.append(y)
                    at += n
                d = (torch.cat(outs, 1) - whole).abs().max().item()
                assert d < 1e-12, "cached decoding differs from the whole run by %g" % d
                worst = max(worst, d)
            # the causal mask works: a later token does not change earlier outputs
            x2 = x.clone()
            x2[:, -1] += 1.0
            y2, _ = dec(x2, memory)
            assert (y2[:, :-1] - whole[:, :-1]).abs().max() < 1e-12
            assert (y2[:, -1] - whole[:, -1]).abs().max() > 1e-3
    print("decoder: token by token with the cache = the whole sequence (max diff %.3g)" % worst)


def t5_direct(w, x, c, memory=None):
    """SPEC 10's text read a second way, without the modules: w holds the
    stack's parameters by name, x [B, T, D]; every layer's scores get
    bias[bucket(j - i), h] from block 0's table, the bucket from spec_bucket
    (integers), one query row at a time; causal for a decoder, whose
    cross-attention over memory has no bias."""
    B, T, D = x.shape
    H, dk, N, M = c.num_heads, c.d_kv, c.relative_attention_num_buckets, \
        c.relative_attention_max_distance
    table = w["block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    bucket = [[spec_bucket(j - i, not c.is_decoder, N, M) for j in range(T)] for i in range(T)]

    def rms(t, name):
        return w[name] * t / torch.sqrt((t * t).mean(-1, keepdim=True) + c.layer_norm_epsilon)

    def attend(p, q_in, kv_in, biased, causal):
        out = torch.zeros(B, q_in.shape[1], H * dk, dtype=x.dtype)
        q = q_in @ w[p + "q.weight"].T
        k, v = kv_in @ w[p + "k.weight"].T, kv_in @ w[p + "v.weight"].T
        for i in range(q_in.shape[1]):
            seen = i + 1 if causal else kv_in.shape[1]
            for h in range(H):
                hs = slice(h * dk, (h + 1) * dk)
                s = torch.einsum("bd,bjd->bj", q[:, i, hs], k[:, :seen, hs])
                if biased:
                    s = s + table[torch.tensor(bucket[i][:seen]), h]
                out[:, i, hs] = torch.einsum("bj,bjd->bd", torch.softmax(s, -1), v[:, :seen, hs])
        return out @ w[p + "o.weight"].T

    for n in range(c.num_layers):
        b = "block.%d.layer." % n
        x = x + attend(b + "0.SelfAttention.", rms(x, b + "0.layer_norm.weight"),
                       rms(x, b + "0.layer_norm.weight"), True, c.is_decoder)
        if c.is_decoder:
            x = x + attend(b + "1.EncDecAttention.", rms(x, b + "1.layer_norm.weight"), memory,
                           False, False)
        f = b + ("2" if c.is_decoder else "1")
        h = rms(x, f + ".layer_norm.weight")
        if c.feed_forward_proj == "relu":
            h = torch.relu(h @ w[f + ".DenseReluDense.wi.weight"].T)
        else:
            g = h @ w[f + ".DenseReluDense.wi_0.weight"].T
            g = 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
            h = g * (h @ w[f + ".DenseReluDense.wi_1.weight"].T)
        x = x + h @ w[f + ".DenseReluDense.wo.weight"].T
    return rms(x, "final_layer_norm.weight")


def check_direct():
    """the modules against t5_direct, float64, both kinds, both stacks, with
    lengths past max_distance"""
    g = torch.Generator().manual_seed(10)
    worst = 0.0
    for is_decoder in (False, True):
        for ffp, N, M, T in (("relu", 32, 128, 9), ("gated-gelu", 8, 6, 23)):
            c = Config(12, 2, 3, 5, 20, feed_forward_proj=ffp, relative_attention_num_buckets=N,
                       relative_attention_max_distance=M, layer_norm_epsilon=1e-3,
                       is_decoder=is_decoder)
            m = T5Stack(c).double().eval()
            init_like_hf(m, g)
            x = torch.randn(2, T, 12, generator=g, dtype=torch.float64)
            memory = torch.randn(2, 7, 12, generator=g, dtype=torch.float64) if is_decoder else None
            with torch.no_grad():
                y, _ = m(x, memory)
                w = {k: v.detach() for k, v in m.state_dict().items()}
                d = (y - t5_direct(w, x, c, memory)).abs().max().item()
            assert d < 1e-12, "the modules and SPEC's text differ by %g" % d
            worst = max(worst, d)
    print("stacks: the modules = SPEC 10 read directly (max diff %.3g)" % worst)


def check_names():
    for is_decoder in (False, True):
        for ffp in ("relu", "gated-gelu"):
            c = Config(12, 3, 2, 5, 20, feed_forward_proj=ffp, is_decoder=is_decoder)
            sd = T5Stack(c).state_dict()
            want = spec_param_names(c)
            assert sorted(sd) == sorted(want), set(sd) ^ set(want)
            for k, shape in want.items():
                assert list(sd[k].shape) == shape, (k, list(sd[k].shape), shape)
    print("parameter names and shapes: as SPEC 10 lists them")


def scan():
    """HF's float32 buckets against three other evaluations over many configs"""
    import ctypes
    import numpy as np
    libm = ctypes.CDLL("libm.so.6")
    libm.logf.restype, libm.logf.argtypes = ctypes.c_float, [ctypes.c_float]
    n = torch.arange(0, 3001)
    nn_ = n.numpy()
    counts = {"int": 0, "double": 0, "f32 logf": 0}
    logs = {}
    configs = 0
    for N in range(2, 130):
        for M in range(2, 520):
            for bi in (True, False):
                NN = N // 2 if bi else N
                E = NN // 2
                if NN < 2 or M <= E:
                    continue
                configs += 1
                hf = relative_position_bucket(-n, bi, N, M).numpy()
                # the integer reading: thresholds n_k, the smallest n with floor >= k
                P = NN - E
                th = []
                for k in range(1, P):
                    t = max(E, int(E * (M / E) ** (k / P)) - 2)
                    while t ** P * E ** k < M ** k * E ** P:
                        t += 1
                    while t - 1 >= E and (t - 1) ** P * E ** k >= M ** k * E ** P:
                        t -= 1
                    th.append(t)
                large = E + (nn_[:, None] >= np.array(th, np.int64)[None, :]).sum(1)
                ints = np.where(nn_ < E, nn_, np.minimum(NN - 1, large))
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.floor(np.log(nn_ / E) / math.log(M / E) * P)
                    dbl = np.where(nn_ < E, nn_, np.minimum(NN - 1, E + np.nan_to_num(v)))
                # float32 in HF's order: logf(n / E), / (float) log(M / E), * (N - E)
                if E not in logs:  # logf(n / E), n / E rounded to float32
                    x = (nn_.astype(np.float32) / np.float32(E)).astype(np.float32)
                    logs[E] = np.array([libm.logf(float(t)) if t > 0 else 0.0 for t in x],
                                       np.float32)
                lx = logs[E]
                v32 = (lx / np.float32(math.log(M / E))).astype(np.float32) * np.float32(P)
                f32 = np.where(nn_ < E, nn_, np.minimum(NN - 1, E + v32.astype(np.int64)))
                for key, got in (("int", ints), ("double", dbl), ("f32 logf", f32)):
                    if not (hf == got).all():
                        counts[key] += 1
                        if counts[key] <= 3:
                            i = int(np.nonzero(hf != got)[0][0])
                            print("  %s differs: N %d max_distance %d %s, n %d: HF %d, %d"
                                  % (key, N, M, "bidirectional" if bi else "causal", i,
                                     hf[i], got[i]))
    print("scan: %d configs; configs where HF's buckets differ: %s" % (configs, counts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scan", action="store_true", help="also the long bucket scan")
    a = ap.parse_args()
    torch.set_num_threads(1)
    check_buckets()
    check_names()
    check_direct()
    check_decoder_cache()
    if a.scan:
        scan()
    print("ok")


if __name__ == "__main__":
    sys.exit(main())

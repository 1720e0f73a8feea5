#!/usr/bin/python3
"""ref_longctx.py: torch references for SPEC section 10's long-context ops.

    /usr/bin/python3 tests/golden/ref_longctx.py     # cross-checks, prints max diffs

Two readings of `transformer_xl`, meant to agree to rounding:

  xl_ky      a port of kimiyoung/transformer-xl's pytorch/mem_transformer.py
             (MemTransformerLM._forward with attn_type 0, ext_len 0, pre_lnorm
             False; RelPartialLearnableMultiHeadAttn with its _rel_shift; the
             masks and _update_mems as written there), in KY's own [len, batch]
             layout, segment by segment, each layer holding its own r_w_bias /
             r_r_bias (HF's untie_r).
  xl_direct  SPEC 10's text read a second way: for every query i and key j the
             distance d = i + mlen - j, clamped, its sinusoid row R_d computed
             on its own, and the four terms summed explicitly. No shift trick.

and one of `memformer_encoder` (no reference implementation exists; SPEC 10 is
normative): memformer.

Weights are dicts keyed by seqc's parameter names without the node prefix
(`layers.0.dec_attn.qkv_net.weight`, ...), as the safetensors file holds them
after the prefix. Inputs are batch-first [B, T, D] tensors. Each function
returns the output [B, T, D] and the state after the last segment (the
memories per layer for Transformer-XL, the slots for Memformer), so that a
caller can check pieces against the whole (SPEC 9's carry).
"""
import math

import torch
import torch.nn.functional as F


# ---- Transformer-XL, KY's reading -----------------------------------------


def _ky_pos_emb(pos_seq, d_model):
    """PositionalEmbedding.forward: [klen, D], sines then cosines."""
    inv_freq = 1 / (10000 ** (torch.arange(0.0, d_model, 2.0, dtype=pos_seq.dtype) / d_model))
    sinusoid = torch.outer(pos_seq, inv_freq)
    return torch.cat([sinusoid.sin(), sinusoid.cos()], dim=-1)


def _ky_rel_shift(x):
    """RelMultiHeadAttn._rel_shift (zero_triu False), x [qlen, klen, bsz, n_head]."""
    zero_pad = torch.zeros((x.size(0), 1, *x.size()[2:]), dtype=x.dtype)
    x_padded = torch.cat([zero_pad, x], dim=1)
    x_padded = x_padded.view(x.size(1) + 1, x.size(0), *x.size()[2:])
    return x_padded[1:].view_as(x)


def _layer_norm(x, w, p, eps):
    return F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], eps)


def _ky_layer(w, n, dec_inp, r, mems, mask, n_head, d_head, eps):
    """RelPartialLearnableDecoderLayer.forward, [len, bsz, D] layout."""
    p = "layers.%d." % n
    qlen, bsz = dec_inp.size(0), dec_inp.size(1)
    rlen = r.size(0)
    cat = torch.cat([mems, dec_inp], 0) if mems is not None else dec_inp
    w_heads = cat @ w[p + "dec_attn.qkv_net.weight"].T
    r_head_k = r @ w[p + "dec_attn.r_net.weight"].T
    w_head_q, w_head_k, w_head_v = torch.chunk(w_heads, 3, dim=-1)
    w_head_q = w_head_q[-qlen:]
    klen = w_head_k.size(0)
    w_head_q = w_head_q.reshape(qlen, bsz, n_head, d_head)
    w_head_k = w_head_k.reshape(klen, bsz, n_head, d_head)
    w_head_v = w_head_v.reshape(klen, bsz, n_head, d_head)
    r_head_k = r_head_k.reshape(rlen, n_head, d_head)
    rw_head_q = w_head_q + w[p + "dec_attn.r_w_bias"]
    AC = torch.einsum("ibnd,jbnd->ijbn", rw_head_q, w_head_k)
    rr_head_q = w_head_q + w[p + "dec_attn.r_r_bias"]
    BD = _ky_rel_shift(torch.einsum("ibnd,jnd->ijbn", rr_head_q, r_head_k))
    score = (AC + BD) * (1 / d_head ** 0.5)
    if mask is not None and mask.any():
        score = score.masked_fill(mask[:, :, None, None], -float("inf"))
    prob = F.softmax(score, dim=1)
    vec = torch.einsum("ijbn,jbnd->ibnd", prob, w_head_v).reshape(qlen, bsz, n_head * d_head)
    out = _layer_norm(dec_inp + vec @ w[p + "dec_attn.o_net.weight"].T, w, p + "dec_attn.layer_norm", eps)
    core = torch.relu(out @ w[p + "pos_ff.CoreNet.0.weight"].T + w[p + "pos_ff.CoreNet.0.bias"])
    core = core @ w[p + "pos_ff.CoreNet.3.weight"].T + w[p + "pos_ff.CoreNet.3.bias"]
    return _layer_norm(out + core, w, p + "pos_ff.layer_norm", eps)


def _ky_segment(w, seg, mems, cfg):
    """MemTransformerLM._forward after the word embedding, on one segment
    [qlen, bsz, D]; returns the output and the new memories (_update_mems)."""
    qlen = seg.size(0)
    mem_len = cfg["mem_len"]
    mlen = mems[0].size(0) if mems is not None else 0
    klen = mlen + qlen
    ones = torch.ones(qlen, klen)
    if cfg.get("same_length", False):
        mask_len = klen - mem_len
        mask_shift_len = qlen - mask_len if mask_len > 0 else qlen
        mask = (torch.triu(ones, 1 + mlen) + torch.tril(ones, -mask_shift_len)).bool()
    else:
        mask = torch.triu(ones, diagonal=1 + mlen).bool()
    pos_seq = torch.arange(klen - 1, -1, -1.0, dtype=seg.dtype)
    if cfg.get("clamp_len", 0) > 0:
        pos_seq = pos_seq.clamp(max=cfg["clamp_len"])
    pos_emb = _ky_pos_emb(pos_seq, seg.size(-1))
    hids = [seg]
    core = seg
    for n in range(cfg["num_layers"]):
        core = _ky_layer(w, n, core, pos_emb, None if mems is None else mems[n], mask,
                         cfg["n_head"], cfg["d_head"], cfg.get("layer_norm_eps", 1e-5))
        hids.append(core)
    new_mems = None
    if mems is not None:
        # _update_mems as KY calls it (its qlen and mlen arguments swapped,
        # harmless with ext_len 0: end is mlen + qlen either way)
        end_idx = mlen + max(0, qlen - 0)
        beg_idx = max(0, end_idx - mem_len)
        new_mems = [torch.cat([mems[i], hids[i]], 0)[beg_idx:end_idx] for i in range(len(hids))]
    return core, new_mems


def xl_ky(w, x, cfg, mems=None):
    """x [B, T, D] batch-first; cfg: num_layers, n_head, d_head, mem_len, segment,
    clamp_len, same_length, layer_norm_eps. mems: None to start empty (KY's
    init_mems), or what an earlier call returned ([B, rows, D] per layer).
    Returns (y [B, T, D], memories [B, rows <= mem_len, D] per layer)."""
    B, T, D = x.shape
    C = cfg["segment"]
    assert T % C == 0, "T must be a multiple of the segment"
    if cfg["mem_len"] > 0:
        state = ([torch.empty(0, B, D, dtype=x.dtype) for _ in range(cfg["num_layers"] + 1)]
                 if mems is None else [m.transpose(0, 1) for m in mems] + [torch.empty(0, B, D, dtype=x.dtype)])
    else:
        state = None
    outs = []
    for s in range(0, T, C):
        seg = x[:, s:s + C].transpose(0, 1)
        y, state = _ky_segment(w, seg, state, cfg)
        outs.append(y.transpose(0, 1))
    kept = ([m.transpose(0, 1) for m in state[:cfg["num_layers"]]] if state is not None
            else [torch.empty(B, 0, D, dtype=x.dtype) for _ in range(cfg["num_layers"])])
    return torch.cat(outs, 1), kept


# ---- Transformer-XL, SPEC 10 read directly ---------------------------------


def _sinusoid_row(d, D, dtype):
    """R_d: [sin(d f_0) .. sin(d f_{D/2-1}) | cos(d f_0) .. cos(d f_{D/2-1})]."""
    t = torch.arange(D // 2, dtype=dtype)
    f = torch.pow(torch.tensor(10000.0, dtype=dtype), -2.0 * t / D)
    return torch.cat([torch.sin(d * f), torch.cos(d * f)])


def xl_direct(w, x, cfg, mems=None):
    """Same contract as xl_ky, written from SPEC 10's formulas one (i, j) at a time."""
    B, T, D = x.shape
    C, M, L = cfg["segment"], cfg["mem_len"], cfg["num_layers"]
    H, dh = cfg["n_head"], cfg["d_head"]
    clamp, same = cfg.get("clamp_len", 0), cfg.get("same_length", False)
    eps = cfg.get("layer_norm_eps", 1e-5)
    mem = [torch.empty(B, 0, D, dtype=x.dtype) for _ in range(L)] if mems is None else list(mems)
    outs = []
    for s in range(0, T, C):
        h = x[:, s:s + C]
        for n in range(L):
            p = "layers.%d.dec_attn." % n
            mlen = mem[n].shape[1]
            cat = torch.cat([mem[n], h], 1)
            qkv = cat @ w[p + "qkv_net.weight"].T
            q, k, v = qkv.split(H * dh, dim=-1)
            q = q[:, mlen:].reshape(B, C, H, dh)
            k = k.reshape(B, mlen + C, H, dh)
            v = v.reshape(B, mlen + C, H, dh)
            a = torch.zeros(B, C, H, dh, dtype=x.dtype)
            for i in range(C):
                seen = [j for j in range(mlen + C)
                        if j <= i + mlen and (not same or j > i + mlen - M)]
                dist = [i + mlen - j for j in seen]
                if clamp > 0:
                    dist = [min(d, clamp) for d in dist]
                R = torch.stack([_sinusoid_row(float(d), D, x.dtype) for d in dist])
                rk = (R @ w[p + "r_net.weight"].T).reshape(len(seen), H, dh)
                kj, vj = k[:, seen], v[:, seen]
                for hh in range(H):
                    qw = q[:, i, hh] + w[p + "r_w_bias"][hh]
                    qr = q[:, i, hh] + w[p + "r_r_bias"][hh]
                    sc = (torch.einsum("bd,bjd->bj", qw, kj[:, :, hh])
                          + torch.einsum("bd,jd->bj", qr, rk[:, hh])) / math.sqrt(dh)
                    a[:, i, hh] = torch.einsum("bj,bjd->bd", torch.softmax(sc, -1), vj[:, :, hh])
            o = h + a.reshape(B, C, H * dh) @ w[p + "o_net.weight"].T
            o = _layer_norm(o, w, p + "layer_norm", eps)
            f = "layers.%d.pos_ff." % n
            ff = torch.relu(o @ w[f + "CoreNet.0.weight"].T + w[f + "CoreNet.0.bias"])
            ff = ff @ w[f + "CoreNet.3.weight"].T + w[f + "CoreNet.3.bias"]
            h_next = _layer_norm(o + ff, w, f + "layer_norm", eps)
            mem[n] = cat[:, max(0, mlen + C - M):] if M > 0 else mem[n]
            h = h_next
        outs.append(h)
    return torch.cat(outs, 1), mem


def xl_weights(cfg, d_model, g, dtype=torch.float64):
    """Random weights under seqc's names (without the node prefix), scaled so
    that activations stay of order one through the layers."""
    H, dh, di = cfg["n_head"], cfg["d_head"], cfg["d_inner"]
    w = {}

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    for n in range(cfg["num_layers"]):
        p = "layers.%d." % n
        w[p + "dec_attn.qkv_net.weight"] = rnd(3 * H * dh, d_model, scale=d_model ** -0.5)
        w[p + "dec_attn.r_net.weight"] = rnd(H * dh, d_model, scale=d_model ** -0.5)
        w[p + "dec_attn.o_net.weight"] = rnd(d_model, H * dh, scale=(H * dh) ** -0.5)
        w[p + "dec_attn.r_w_bias"] = rnd(H, dh, scale=0.3)
        w[p + "dec_attn.r_r_bias"] = rnd(H, dh, scale=0.3)
        w[p + "dec_attn.layer_norm.weight"] = 1 + rnd(d_model, scale=0.1)
        w[p + "dec_attn.layer_norm.bias"] = rnd(d_model, scale=0.1)
        w[p + "pos_ff.CoreNet.0.weight"] = rnd(di, d_model, scale=d_model ** -0.5)
        w[p + "pos_ff.CoreNet.0.bias"] = rnd(di, scale=0.1)
        w[p + "pos_ff.CoreNet.3.weight"] = rnd(d_model, di, scale=di ** -0.5)
        w[p + "pos_ff.CoreNet.3.bias"] = rnd(d_model, scale=0.1)
        w[p + "pos_ff.layer_norm.weight"] = 1 + rnd(d_model, scale=0.1)
        w[p + "pos_ff.layer_norm.bias"] = rnd(d_model, scale=0.1)
    return w


# ---- Memformer, SPEC 10 ----------------------------------------------------


def _mha(w, p, q, kv, nhead, mask=None, temperature=1.0):
    """nn.MultiheadAttention (batch_first, same q/k/v dim) from its state_dict
    names under p; mask [Tq, Tk] bool, True = not seen; scores further divided
    by temperature (Memformer's write)."""
    B, Tq, D = q.shape
    Tk = kv.shape[1]
    dh = D // nhead
    wq, wk, wv = w[p + "in_proj_weight"].split(D)
    bq, bk, bv = w[p + "in_proj_bias"].split(D)
    qh = (q @ wq.T + bq).reshape(B, Tq, nhead, dh).transpose(1, 2)
    kh = (kv @ wk.T + bk).reshape(B, Tk, nhead, dh).transpose(1, 2)
    vh = (kv @ wv.T + bv).reshape(B, Tk, nhead, dh).transpose(1, 2)
    sc = qh @ kh.transpose(-1, -2) / math.sqrt(dh) / temperature
    if mask is not None:
        sc = sc.masked_fill(mask, -float("inf"))
    a = (torch.softmax(sc, -1) @ vh).transpose(1, 2).reshape(B, Tq, D)
    return a @ w[p + "out_proj.weight"].T + w[p + "out_proj.bias"]


def memformer(w, x, cfg, memory=None):
    """x [B, T, D]; cfg: num_layers, nhead, num_slots, segment, write_temperature,
    activation, layer_norm_eps. memory: None to start from
    normalize(memory_bias), or the slots [B, k, D] an earlier call returned.
    Returns (y [B, T, D], slots [B, k, D])."""
    B, T, D = x.shape
    C, k, nh = cfg["segment"], cfg["num_slots"], cfg["nhead"]
    eps = cfg.get("layer_norm_eps", 1e-5)
    tau = cfg.get("write_temperature", 1.0)
    act = (lambda t: F.gelu(t)) if cfg.get("activation", "relu") == "gelu" else torch.relu
    bias = w["memory_bias"]
    mem = (F.normalize(bias, dim=-1, eps=1e-12).expand(B, k, D).clone()
           if memory is None else memory)
    # slot s sees itself (row s of [M ; y]) and the C rows of y
    seen = torch.zeros(k, k + C, dtype=torch.bool)
    seen[torch.arange(k), torch.arange(k)] = True
    seen[:, k:] = True
    outs = []
    for s in range(0, T, C):
        h = x[:, s:s + C]
        for n in range(cfg["num_layers"]):
            p = "layers.%d." % n
            hn = _layer_norm(h, w, p + "n1", eps)
            h = h + _mha(w, p + "self_attn.", hn, hn, nh)
            h = h + _mha(w, p + "mem_attn.", _layer_norm(h, w, p + "n2", eps), mem, nh)
            ff = act(_layer_norm(h, w, p + "n3", eps) @ w[p + "linear1.weight"].T + w[p + "linear1.bias"])
            h = h + ff @ w[p + "linear2.weight"].T + w[p + "linear2.bias"]
        y = _layer_norm(h, w, "norm", eps)
        written = _mha(w, "writer.", mem, torch.cat([mem, y], 1), nh, mask=~seen, temperature=tau)
        mem = F.normalize(written + bias, dim=-1, eps=1e-12)
        outs.append(y)
    return torch.cat(outs, 1), mem


def memformer_direct(w, x, cfg, memory=None):
    """memformer read a second way: the write one slot at a time over its own
    k = [M_s ; y] rows (no mask), attention heads by explicit loops."""
    B, T, D = x.shape
    C, k, nh = cfg["segment"], cfg["num_slots"], cfg["nhead"]
    dh = D // nh
    eps = cfg.get("layer_norm_eps", 1e-5)
    tau = cfg.get("write_temperature", 1.0)
    bias = w["memory_bias"]

    def norm(v):
        return v / torch.clamp(torch.sqrt((v * v).sum(-1, keepdim=True)), min=1e-12)

    def attn(p, q, kv, temperature=1.0):
        wq, wk, wv = w[p + "in_proj_weight"].split(D)
        bq, bk, bv = w[p + "in_proj_bias"].split(D)
        Q, K, V = q @ wq.T + bq, kv @ wk.T + bk, kv @ wv.T + bv
        heads = []
        for hh in range(nh):
            sl = slice(hh * dh, (hh + 1) * dh)
            sc = torch.einsum("bid,bjd->bij", Q[..., sl], K[..., sl]) / math.sqrt(dh) / temperature
            heads.append(torch.einsum("bij,bjd->bid", torch.softmax(sc, -1), V[..., sl]))
        return torch.cat(heads, -1) @ w[p + "out_proj.weight"].T + w[p + "out_proj.bias"]

    def ln(t, p):
        mu = t.mean(-1, keepdim=True)
        var = ((t - mu) ** 2).mean(-1, keepdim=True)
        return (t - mu) / torch.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    mem = norm(bias).expand(B, k, D).clone() if memory is None else memory
    outs = []
    for s in range(0, T, C):
        h = x[:, s:s + C]
        for n in range(cfg["num_layers"]):
            p = "layers.%d." % n
            hn = ln(h, p + "n1")
            h = h + attn(p + "self_attn.", hn, hn)
            h = h + attn(p + "mem_attn.", ln(h, p + "n2"), mem)
            z = ln(h, p + "n3") @ w[p + "linear1.weight"].T + w[p + "linear1.bias"]
            z = 0.5 * z * (1 + torch.erf(z / math.sqrt(2))) if cfg.get("activation") == "gelu" else torch.relu(z)
            h = h + z @ w[p + "linear2.weight"].T + w[p + "linear2.bias"]
        y = ln(h, "norm")
        new = torch.empty_like(mem)
        for slot in range(k):
            kv = torch.cat([mem[:, slot:slot + 1], y], 1)
            new[:, slot] = attn("writer.", mem[:, slot:slot + 1], kv, tau)[:, 0]
        mem = norm(new + bias)
        outs.append(y)
    return torch.cat(outs, 1), mem


def memformer_weights(cfg, d_model, g, dtype=torch.float64):
    """Random weights under seqc's names (without the node prefix)."""
    w = {}
    D, F_ = d_model, cfg["dim_feedforward"]

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def mha(p):
        w[p + "in_proj_weight"] = rnd(3 * D, D, scale=D ** -0.5)
        w[p + "in_proj_bias"] = rnd(3 * D, scale=0.1)
        w[p + "out_proj.weight"] = rnd(D, D, scale=D ** -0.5)
        w[p + "out_proj.bias"] = rnd(D, scale=0.1)

    def ln(p):
        w[p + ".weight"] = 1 + rnd(D, scale=0.1)
        w[p + ".bias"] = rnd(D, scale=0.1)

    for n in range(cfg["num_layers"]):
        p = "layers.%d." % n
        mha(p + "self_attn.")
        mha(p + "mem_attn.")
        w[p + "linear1.weight"] = rnd(F_, D, scale=D ** -0.5)
        w[p + "linear1.bias"] = rnd(F_, scale=0.1)
        w[p + "linear2.weight"] = rnd(D, F_, scale=F_ ** -0.5)
        w[p + "linear2.bias"] = rnd(D, scale=0.1)
        for m in ("n1", "n2", "n3"):
            ln(p + m)
    ln("norm")
    mha("writer.")
    w["memory_bias"] = rnd(cfg["num_slots"], D)
    return w


# ---- the cross-checks -------------------------------------------------------


def _max_diff(a, b):
    """the largest |a - b|; inf when either holds a NaN (max() would drop it)"""
    if a.shape != b.shape:
        return float("inf")
    if not a.numel():
        return 0.0
    d = (a - b).abs().max().item()
    return float("inf") if math.isnan(d) else d


def check_xl(cfg, B, T, D, seed):
    g = torch.Generator().manual_seed(seed)
    w = xl_weights(cfg, D, g)
    x = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    y1, m1 = xl_ky(w, x, cfg)
    y2, m2 = xl_direct(w, x, cfg)
    d = max([_max_diff(y1, y2)] + [_max_diff(a, b) for a, b in zip(m1, m2)])
    # pieces equal the whole: the memories carried from the first half
    half = (T // cfg["segment"] // 2) * cfg["segment"]
    if 0 < half < T:
        ya, ma = xl_ky(w, x[:, :half], cfg)
        yb, mb = xl_ky(w, x[:, half:], cfg, mems=ma if cfg["mem_len"] > 0 else None)
        d = max(d, _max_diff(torch.cat([ya, yb], 1), y1),
                max([_max_diff(a, b) for a, b in zip(mb, m1)] or [0.0]))
    for m in m1:
        assert m.shape[1] <= cfg["mem_len"], "a memory holds more than mem_len rows"
    return d


def check_memformer(cfg, B, T, D, seed):
    g = torch.Generator().manual_seed(seed)
    w = memformer_weights(cfg, D, g)
    x = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    y1, m1 = memformer(w, x, cfg)
    y2, m2 = memformer_direct(w, x, cfg)
    d = max(_max_diff(y1, y2), _max_diff(m1, m2))
    half = (T // cfg["segment"] // 2) * cfg["segment"]
    if 0 < half < T:
        ya, ma = memformer(w, x[:, :half], cfg)
        yb, mb = memformer(w, x[:, half:], cfg, memory=ma)
        d = max(d, _max_diff(torch.cat([ya, yb], 1), y1), _max_diff(mb, m1))
    return d


XL_CASES = [
    # (name, cfg, B, T, D)
    ("one_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=4, segment=6), 1, 6, 8),
    ("mem_below_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=3, segment=5), 3, 20, 8),
    ("mem_above_segment", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=9, segment=4), 3, 16, 8),
    ("no_memory", dict(num_layers=1, n_head=2, d_head=3, d_inner=8, mem_len=0, segment=4), 2, 12, 6),
    ("clamp_len", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=6, segment=4, clamp_len=3), 2, 16, 8),
    ("same_length", dict(num_layers=2, n_head=2, d_head=4, d_inner=16, mem_len=5, segment=4, same_length=True), 2, 16, 8),
    ("same_length_long_mem", dict(num_layers=1, n_head=1, d_head=4, d_inner=8, mem_len=12, segment=4, same_length=True), 1, 24, 8),
]

MEMFORMER_CASES = [
    ("one_segment", dict(num_layers=1, nhead=2, dim_feedforward=16, num_slots=3, segment=5), 1, 5, 8),
    ("several", dict(num_layers=2, nhead=2, dim_feedforward=16, num_slots=4, segment=3, write_temperature=0.5), 3, 12, 8),
    ("gelu", dict(num_layers=2, nhead=4, dim_feedforward=12, num_slots=2, segment=4, activation="gelu"), 2, 16, 8),
]


def main():
    worst = 0.0
    for name, cfg, B, T, D in XL_CASES:
        d = check_xl(cfg, B, T, D, seed=len(name))
        print("transformer_xl  %-22s max |ky - direct|, |pieces - whole| = %.3g" % (name, d))
        worst = max(worst, d)
    for name, cfg, B, T, D in MEMFORMER_CASES:
        d = check_memformer(cfg, B, T, D, seed=len(name))
        print("memformer       %-22s max |masked - per slot|, |pieces - whole| = %.3g" % (name, d))
        worst = max(worst, d)
    assert worst < 1e-10, "the two readings disagree: %g" % worst
    print("ok: the readings agree to %.3g (float64)" % worst)


if __name__ == "__main__":
    main()

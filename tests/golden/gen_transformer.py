#!/usr/bin/python3
"""gen_transformer.py: golden data for attention and the Transformer layers.

    /usr/bin/python3 tests/golden/gen_transformer.py    # (re)write cases/tf_*

Writes the cases named tf_* into tests/golden/cases/ with gen.py's writer and
format, leaving every other case alone, then re-checks all cases with a
reference that knows these ops too. The reference is PyTorch 1.13's own
modules in eval mode (nn.MultiheadAttention, nn.TransformerEncoderLayer, ...,
batch_first=True, dropout 0), registered under the node's name so that the
weights file is their state_dict. `causal` and `window` become an explicit
float mask (0 where query i sees key j, -inf elsewhere), which is how a
PyTorch user writes them.

Key padding masks (SPEC 11): an input 'i64[B,T]@9,5,h,p,0' is a mask whose
rows are, in order, the first N keys valid and the rest padding (0: all
padding), holes ('h'), or a padded prefix ('p'); its non-zero values (1 and
7) are padding. PyTorch takes it as .bool(). Modules given a mask run in
training mode (dropout is 0 everywhere), so that PyTorch takes its
reference path, not the fast path (whose nested tensors zero the padded
positions). A query that sees no key gets NaN from PyTorch; SPEC 11 gives
it attention weights 0, so the reference's attention softmax maps NaN to 0
(nan_to_num), which is exactly that.
"""
import os
import shutil
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

BaseReference = gen.Reference
base_make_input = gen.make_input


def make_input(kind, shape, opts, dims, g):
    """gen's inputs, and key padding masks for opts '@ROW,ROW,...' (see above)."""
    if not opts.startswith("@"):
        return base_make_input(kind, shape, opts, dims, g)
    b, t = [dims[d] if isinstance(d, str) else d for d in shape]
    rows = opts[1:].split(",")
    assert len(rows) == b, f"mask {opts}: {len(rows)} rows for B = {b}"
    m = torch.zeros(b, t, dtype=torch.int64)
    j = torch.arange(t)
    for r, spec in enumerate(rows):
        if spec == "h":
            pad = (j % 3 == 1) | ((j >= t // 4) & (j < t // 2))
        elif spec == "p":
            pad = j < (t + 2) // 3
        else:
            pad = j >= int(spec)
        m[r] = torch.where(pad, 1 + 6 * (j % 2), 0)  # 1 and 7: any non-zero is padding
    return m.to(torch.int32 if kind == "i32" else torch.int64)


gen.make_input = make_input

# weights 0 for a query that sees no key (SPEC 11) where PyTorch's softmax gives NaN:
# multi_head_attention_forward calls this module's softmax
_softmax = torch.nn.functional.softmax


def softmax_nan0(*args, **kwargs):
    return torch.nan_to_num(_softmax(*args, **kwargs), nan=0.0)


torch.nn.functional.softmax = softmax_nan0


def init_all(mod, g):
    """gen's trained-looking init on every submodule, and on the packed
    in_proj of attention (a bare Parameter, not an nn.Linear)."""
    for m in mod.modules():
        gen.init_trained_looking(m, g)
        if isinstance(m, nn.Conv1d):
            with torch.no_grad():
                fan = m.in_channels * m.kernel_size[0]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / fan ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        if isinstance(m, nn.MultiheadAttention):
            with torch.no_grad():
                e = m.embed_dim
                m.in_proj_weight.copy_(torch.randn(m.in_proj_weight.shape, generator=g) / e ** 0.5)
                if m.in_proj_bias is not None:
                    m.in_proj_bias.copy_(torch.randn(m.in_proj_bias.shape, generator=g) * 0.1)


def mask(tq, tk, causal, window):
    """float [tq, tk]: 0 where visible, -inf elsewhere; None when all are visible."""
    if not causal and window is None:
        return None
    i = torch.arange(tq)[:, None]
    j = torch.arange(tk)[None, :]
    ok = torch.ones(tq, tk, dtype=torch.bool)
    if causal:
        ok &= j <= i
    if window is not None:
        ok &= (j - i).abs() <= window
    return torch.zeros(tq, tk).masked_fill(~ok, float("-inf"))


class Reference(BaseReference):
    padded = False  # the node being run has a key padding mask

    def module(self, name, make):
        if name not in self.mods:
            m = make()
            init_all(m, self.gen)
            self.mods[name] = m
        # with a mask, the reference path (training mode, dropout 0), not the fast path
        return self.mods[name].train(self.padded)

    def node(self, name, a, env, dims):
        op = a.get("op")
        if op == "conv1d":
            a = dict(a)
            x = env[a["input"]]
            m = self.module(name, lambda: nn.Conv1d(
                x.shape[-1], a["out_channels"], a["kernel_size"], stride=a.get("stride", 1),
                padding=a.get("padding", 0), dilation=a.get("dilation", 1),
                bias=a.get("bias", True)))
            return m(x.transpose(1, 2)).transpose(1, 2)
        if op not in ("multihead_attention", "transformer_encoder_layer",
                      "transformer_decoder_layer", "transformer_encoder",
                      "transformer_decoder", "transformer"):
            return super().node(name, a, env, dims)
        a = dict(a)
        a.pop("op")
        causal, window = a.get("causal", False), a.get("window")

        def pad(key):
            return env[a[key]].bool() if key in a else None

        self.padded = any(k.endswith("key_padding_mask") for k in a)
        return self.layer(op, name, a, env, causal, window, pad)

    def layer(self, op, name, a, env, causal, window, pad):
        if op == "multihead_attention":
            q = env[a["input"]]
            k = env[a.get("key", a["input"])]
            v = env[a.get("value", a.get("key", a["input"]))]
            m = self.module(name, lambda: nn.MultiheadAttention(
                q.shape[-1], a["num_heads"], bias=a.get("bias", True), batch_first=True))
            return m(q, k, v, attn_mask=mask(q.shape[1], k.shape[1], causal, window),
                     key_padding_mask=pad("key_padding_mask"), need_weights=False)[0]
        kw = dict(nhead=a.get("nhead", 8), dim_feedforward=a.get("dim_feedforward", 2048),
                  dropout=0.0, activation=a.get("activation", "relu"),
                  layer_norm_eps=float(a.get("layer_norm_eps", 1e-5)), batch_first=True,
                  norm_first=a.get("norm_first", False))
        if op == "transformer":
            src, tgt = env[a["src"]], env[a["tgt"]]
            m = self.module(name, lambda: nn.Transformer(
                d_model=src.shape[-1], num_encoder_layers=a.get("num_encoder_layers", 6),
                num_decoder_layers=a.get("num_decoder_layers", 6), **kw))
            t = tgt.shape[1]
            return m(src, tgt, tgt_mask=mask(t, t, causal, window),
                     src_key_padding_mask=pad("src_key_padding_mask"),
                     tgt_key_padding_mask=pad("tgt_key_padding_mask"),
                     memory_key_padding_mask=pad("memory_key_padding_mask"))
        x = env[a["input"]]
        t = x.shape[1]
        msk = mask(t, t, causal, window)
        d = x.shape[-1]
        if op == "transformer_encoder_layer":
            m = self.module(name, lambda: nn.TransformerEncoderLayer(d, **kw))
            return m(x, src_mask=msk, src_key_padding_mask=pad("src_key_padding_mask"))
        if op == "transformer_decoder_layer":
            m = self.module(name, lambda: nn.TransformerDecoderLayer(d, **kw))
            return m(x, env[a["memory"]], tgt_mask=msk,
                     tgt_key_padding_mask=pad("tgt_key_padding_mask"),
                     memory_key_padding_mask=pad("memory_key_padding_mask"))
        norm = nn.LayerNorm(d, eps=kw["layer_norm_eps"]) if a.get("norm", False) else None
        if op == "transformer_encoder":
            m = self.module(name, lambda: nn.TransformerEncoder(
                nn.TransformerEncoderLayer(d, **kw), a["num_layers"], norm=norm,
                enable_nested_tensor=False))
            return m(x, mask=msk, src_key_padding_mask=pad("src_key_padding_mask"))
        m = self.module(name, lambda: nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d, **kw), a["num_layers"], norm=norm))
        return m(x, env[a["memory"]], tgt_mask=msk,
                 tgt_key_padding_mask=pad("tgt_key_padding_mask"),
                 memory_key_padding_mask=pad("memory_key_padding_mask"))


gen.Reference = Reference


def define_cases():
    c = gen.case
    mha = {"op": "multihead_attention", "input": "x"}
    c("tf_mha_self", {"x": "f32[B,T,12]"}, [("att", dict(mha, num_heads=3))],
      dims={"B": 2, "T": 7})
    c("tf_mha_nobias_t1", {"x": "f32[B,T,8]"}, [("att", dict(mha, num_heads=1, bias=False))],
      dims={"B": 3, "T": 1})
    c("tf_mha_causal", {"x": "f32[B,T,12]"}, [("att", dict(mha, num_heads=3, causal=True))],
      dims={"B": 2, "T": 13})
    c("tf_mha_window", {"x": "f32[B,T,8]"}, [("att", dict(mha, num_heads=2, window=5))],
      dims={"B": 2, "T": 37})
    c("tf_mha_window_causal", {"x": "f32[B,T,8]"},
      [("att", dict(mha, num_heads=2, window=4, causal=True))], dims={"B": 1, "T": 37})
    c("tf_mha_window_tiles", {"x": "f32[B,T,16]"},
      [("att", dict(mha, num_heads=2, window=37))], dims={"B": 1, "T": 301},
      comment="a window across many key tiles, T not a multiple of any tile")
    c("tf_mha_cross", {"x": "f32[B,T,12]", "mem": "f32[B,S,12]"},
      [("att", dict(mha, key="mem", num_heads=3, embed_dim=12))],
      dims={"B": 2, "T": 7, "S": 5})
    c("tf_mha_cross_kv", {"x": "f32[B,T,12]", "k": "f32[B,S,12]", "v": "f32[B,S,12]"},
      [("att", dict(mha, key="k", value="v", num_heads=2))], dims={"B": 2, "T": 6, "S": 9})
    c("tf_mha_long", {"x": "f32[B,T,8]"}, [("att", dict(mha, num_heads=1))],
      dims={"B": 1, "T": 4096}, comment="long sequence: many query and key tiles")

    enc = {"op": "transformer_encoder_layer", "input": "x", "nhead": 3, "dim_feedforward": 20}
    c("tf_enc_post_relu", {"x": "f32[B,T,12]"}, [("enc", dict(enc))], dims={"B": 2, "T": 7})
    c("tf_enc_pre_gelu", {"x": "f32[B,T,12]"},
      [("enc", dict(enc, norm_first=True, activation="gelu", layer_norm_eps=1e-6))],
      dims={"B": 2, "T": 13})
    c("tf_enc_causal", {"x": "f32[B,T,12]"}, [("enc", dict(enc, causal=True, d_model=12))],
      dims={"B": 1, "T": 13})
    c("tf_enc_window", {"x": "f32[B,T,12]"}, [("enc", dict(enc, window=2, norm_first=True))],
      dims={"B": 2, "T": 11})
    c("tf_enc_t1", {"x": "f32[B,T,6]"}, [("enc", dict(enc, nhead=1))], dims={"B": 2, "T": 1})

    dec = {"op": "transformer_decoder_layer", "input": "x", "memory": "mem", "nhead": 2,
           "dim_feedforward": 16}
    c("tf_dec_post", {"x": "f32[B,T,8]", "mem": "f32[B,S,8]"}, [("dec", dict(dec))],
      dims={"B": 2, "T": 7, "S": 5})
    c("tf_dec_pre_gelu_causal", {"x": "f32[B,T,8]", "mem": "f32[B,S,8]"},
      [("dec", dict(dec, norm_first=True, activation="gelu", causal=True))],
      dims={"B": 2, "T": 13, "S": 4})

    c("tf_encoder_stack_norm", {"x": "f32[B,T,12]"},
      [("enc", {"op": "transformer_encoder", "input": "x", "num_layers": 2, "nhead": 3,
                "dim_feedforward": 24, "norm": True, "layer_norm_eps": 1e-6})],
      dims={"B": 2, "T": 9})
    c("tf_decoder_stack_causal", {"x": "f32[B,T,8]", "mem": "f32[B,S,8]"},
      [("dec", {"op": "transformer_decoder", "input": "x", "memory": "mem", "num_layers": 2,
                "nhead": 2, "dim_feedforward": 16, "norm": True, "causal": True})],
      dims={"B": 1, "T": 7, "S": 6})
    c("tf_transformer", {"src": "f32[B,S,12]", "tgt": "f32[B,T,12]"},
      [("tf", {"op": "transformer", "src": "src", "tgt": "tgt", "nhead": 3,
               "num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 16,
               "causal": True})], dims={"B": 2, "T": 7, "S": 9})
    c("tf_transformer_prenorm_gelu", {"src": "f32[B,S,8]", "tgt": "f32[B,T,8]"},
      [("tf", {"op": "transformer", "src": "src", "tgt": "tgt", "nhead": 2,
               "num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 12,
               "norm_first": True, "activation": "gelu"})], dims={"B": 1, "T": 5, "S": 3})


def define_padding_cases():
    """key padding masks (SPEC 11): rows of different lengths, holes, a padded
    prefix under causal (its first queries see no key), all padding"""
    c = gen.case
    mha = {"op": "multihead_attention", "input": "x"}
    c("tf_mha_padding", {"x": "f32[B,T,12]", "pad": "i64[B,T]@9,5,h,0"},
      [("att", dict(mha, num_heads=3, key_padding_mask="pad"))], dims={"B": 4, "T": 9},
      comment="key_padding_mask: no padding, a suffix, holes, every key padded")
    c("tf_mha_padding_causal", {"x": "f32[B,T,8]", "pad": "i32[B,T]@p,4,h"},
      [("att", dict(mha, num_heads=2, causal=True, key_padding_mask="pad"))],
      dims={"B": 3, "T": 11}, comment="padding with causal: a padded prefix's queries see no key")
    c("tf_mha_padding_cross", {"x": "f32[B,T,12]", "mem": "f32[B,S,12]",
                               "pad": "i64[B,S]@3,0,13"},
      [("att", dict(mha, key="mem", num_heads=3, key_padding_mask="pad"))],
      dims={"B": 3, "T": 6, "S": 13})
    c("tf_mha_padding_long", {"x": "f32[B,T,16]", "pad": "i64[B,T]@37,300,h"},
      [("att", dict(mha, num_heads=2, window=50, key_padding_mask="pad"))],
      dims={"B": 3, "T": 300}, comment="many key tiles, most of a row's padding")
    enc = {"op": "transformer_encoder_layer", "input": "x", "nhead": 3, "dim_feedforward": 20}
    c("tf_enc_padding", {"x": "f32[B,T,12]", "pad": "i64[B,T]@7,3,h"},
      [("enc", dict(enc, src_key_padding_mask="pad"))], dims={"B": 3, "T": 7})
    c("tf_encoder_stack_padding", {"x": "f32[B,T,12]", "pad": "i32[B,T]@9,4,0"},
      [("enc", {"op": "transformer_encoder", "input": "x", "num_layers": 2, "nhead": 3,
                "dim_feedforward": 24, "norm": True, "norm_first": True,
                "src_key_padding_mask": "pad"})], dims={"B": 3, "T": 9})
    dec = {"op": "transformer_decoder_layer", "input": "x", "memory": "mem", "nhead": 2,
           "dim_feedforward": 16}
    c("tf_dec_padding_causal", {"x": "f32[B,T,8]", "mem": "f32[B,S,8]",
                                "tp": "i64[B,T]@7,p", "mp": "i64[B,S]@2,h"},
      [("dec", dict(dec, causal=True, tgt_key_padding_mask="tp",
                    memory_key_padding_mask="mp"))], dims={"B": 2, "T": 7, "S": 5})
    c("tf_decoder_stack_padding", {"x": "f32[B,T,8]", "mem": "f32[B,S,8]",
                                   "mp": "i64[B,S]@6,1"},
      [("dec", {"op": "transformer_decoder", "input": "x", "memory": "mem", "num_layers": 2,
                "nhead": 2, "dim_feedforward": 16, "memory_key_padding_mask": "mp"})],
      dims={"B": 2, "T": 5, "S": 6})
    c("tf_transformer_padding", {"src": "f32[B,S,12]", "tgt": "f32[B,T,12]",
                                 "sp": "i64[B,S]@9,4,h", "tp": "i64[B,T]@7,2,5",
                                 "mp": "i64[B,S]@3,9,0"},
      [("tf", {"op": "transformer", "src": "src", "tgt": "tgt", "nhead": 3,
               "num_encoder_layers": 2, "num_decoder_layers": 2, "dim_feedforward": 16,
               "causal": True, "src_key_padding_mask": "sp", "tgt_key_padding_mask": "tp",
               "memory_key_padding_mask": "mp"})], dims={"B": 3, "T": 7, "S": 9},
      comment="nn.Transformer with its three masks (memory's not derived from src's)")


def define_conv_cases():
    c = gen.case
    conv = {"op": "conv1d", "input": "x"}
    c("tf_conv1d_same", {"x": "f32[B,T,5]"},
      [("conv", dict(conv, out_channels=19, kernel_size=3, padding=1))], dims={"B": 2, "T": 13})
    c("tf_conv1d_stride_dil", {"x": "f32[B,11,6]"},
      [("conv", dict(conv, out_channels=7, kernel_size=3, stride=2, dilation=2, padding=1,
                     bias=False, in_channels=6))], dims={"B": 2})
    c("tf_conv1d_k1", {"x": "f32[B,T,8]"},
      [("conv", dict(conv, out_channels=33, kernel_size=1))], dims={"B": 1, "T": 1})
    gen.model_case("models/conv1d_classifier.yaml", {"x": "f32[B,100,40]"}, {"B": 2})
    # strided convs over a symbolic T: the output lengths are derived dims of T
    c("tf_conv1d_stride2_pad1_sym", {"x": "f32[B,T,6]"},
      [("c1", dict(conv, out_channels=8, kernel_size=3, stride=2, padding=1)),
       ("r1", {"op": "relu", "input": "c1"}),
       ("c2", dict(conv, input="r1", out_channels=5, kernel_size=5, stride=2, padding=1,
                   dilation=2)),
       ("fc", {"op": "linear", "input": "c2", "out_features": 3})], dims={"B": 2, "T": 37})
    c("tf_conv1d_stride3_dil_sym", {"x": "f32[B,T,4]"},
      [("c1", dict(conv, out_channels=6, kernel_size=4, stride=3, padding=2, dilation=2)),
       ("t", {"op": "tanh", "input": "c1"}),
       ("c2", dict(conv, input="t", out_channels=7, kernel_size=2, stride=2))],
      dims={"B": 3, "T": 38})
    gen.model_case("models/conv_strided.yaml", {"x": "f32[B,T,16]"}, {"B": 2, "T": 37})


def main():
    torch.set_num_threads(1)
    define_cases()
    define_padding_cases()
    define_conv_cases()
    for name, text, specs, dims in gen.CASE_LIST:
        d = os.path.join(gen.CASES, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        gen.write_case(name, text, specs, dims)
    print(f"wrote {len(gen.CASE_LIST)} cases")
    # re-check this script's cases only (others belong to scripts with their own ops)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for name, _, _, _ in gen.CASE_LIST:
            os.symlink(os.path.join(gen.CASES, name), os.path.join(tmp, name))
        gen.CASES = tmp
        total = gen.check_cases()
    if total > 2e6:
        print(f"warning: {total / 1e6:.2f} MB of transformer golden data", file=sys.stderr)


if __name__ == "__main__":
    main()

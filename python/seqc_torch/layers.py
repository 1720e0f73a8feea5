"""Leaf modules to seqc's layer ops. Each mapper takes (converter, fx node,
module) and returns what the module's forward returns, in converted form:
a Value, or a tuple of them for the recurrent layers and attention."""
import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

from .converter import Const, Value


class Unavailable:
    """A result seqc does not compute (attention weights): an error if used."""

    def __init__(self, reason):
        self.reason = reason  # what to tell the user who reads it


class Packed:
    """A PackedSequence: a padded batch-first tensor and its rows' lengths,
    which seqc's recurrent ops take as `lengths:` (SPEC 11)."""

    def __init__(self, value, lengths, source, t_axis):
        self.value = value      # the padded tensor, [B, T, F]
        self.lengths = lengths  # the integer [B] input holding each row's length
        self.source = source    # the fx node of the padded tensor that was packed
        self.t_axis = t_axis    # its T axis (0 unless batch_first)


def bound(conv, node, mod):
    """The call's arguments by forward-parameter name, defaults filled in."""
    sig = inspect.signature(mod.forward)
    try:
        b = sig.bind(*node.args, **node.kwargs)
    except TypeError as e:
        conv.fail(node, f"unexpected arguments: {e}")
    b.apply_defaults()
    return b.arguments


def params_of(mod):
    """(name, tensor) for every entry of the module's state_dict."""
    return list(mod.state_dict(keep_vars=True).items())


def batch_first(conv, node, v, first, hint):
    """A [T, B, F] tensor (batch_first=False) as [B, T, F], or v itself."""
    if first:
        return v
    if v.rank != 3:
        conv.fail(node, f"needs a 3-d input, got {v.rank}-d")
    return conv.transpose(node, v, [1, 0, 2], hint)


def mask_pattern(m):
    """(causal, window) of a square attention mask tensor, or None when it
    is neither a causal mask nor a band (|i-j| <= r, or i-r <= j <= i)."""
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        return None
    if m.dtype == torch.bool:
        allowed = ~m
    elif m.is_floating_point():
        if not bool(((m == 0) | (m == float("-inf"))).all()):
            return None
        allowed = m == 0
    else:
        return None
    n = m.shape[0]
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    if bool(allowed.all()):
        return (False, None)
    if not bool(allowed.any(1).all()):
        return None  # a query that sees nothing: no seqc mask does that
    causal = not bool(allowed[(j > i).expand(n, n)].any())
    dist = (i - j).abs().expand(n, n)
    r = int(dist[allowed].max())
    band = dist <= r
    if causal:
        band = band & (j <= i)
    if not torch.equal(allowed, band):
        return None
    return (causal, None if r >= n - 1 else r)


def attention_mask(conv, node, arg, what):
    """The (causal, window) an attention mask argument means."""
    if arg is None:
        return (False, None)
    v = conv.get(arg)
    if v is None:
        return (False, None)
    if isinstance(v, Value):
        conv.fail(node, f"its {what} depends on the inputs' values; seqc's masks are "
                  "causal and window masks (made from T) and key padding masks")
    if not isinstance(v, Const):
        conv.fail(node, f"its {what} is not a tensor")
    found = {mask_pattern(m) for m in v.values}
    if len(found) != 1 or None in found:
        conv.fail(node, f"its {what} is neither a causal mask (-inf or True above the "
                  "diagonal) nor a window (|i-j| <= r); seqc has no other attention mask")
    return found.pop()


def mask_attrs(causal, window):
    out = []
    if causal:
        out.append(("causal", True))
    if window is not None:
        out.append(("window", window))
    return out


def padding_mask(conv, node, arg, key):
    """[(key, Value)] for a key padding mask argument, [] for None."""
    if arg is None:
        return []
    v = conv.get(arg)
    if v is None:
        return []
    if not isinstance(v, Value):
        conv.fail(node, f"its {key} must be a model input (a bool or integer [B, S] "
                  "tensor), not a constant")
    if v.dtype == "f32":
        conv.fail(node, f"its {key} is a float (additive) mask; seqc takes a bool or "
                  "integer mask, non-zero at padding")
    return [(key, v)]


# ---------------------------------------------------------------- basic layers

def linear(conv, node, mod):
    x = conv.tensor(node, bound(conv, node, mod)["input"])
    attrs = [("input", x), ("out_features", mod.out_features)]
    if mod.bias is None:
        attrs.append(("bias", False))
    return conv.emit(node, node.name, "linear", attrs, x.rank, params=params_of(mod))


def embedding(conv, node, mod):
    x = conv.tensor(node, bound(conv, node, mod)["input"])
    if x.dtype == "f32":
        conv.fail(node, "its input must be integer indices")
    if mod.max_norm is not None:
        conv.fail(node, "max_norm (renormalizing rows as they are read) has no seqc form")
    attrs = [("input", x), ("num_embeddings", mod.num_embeddings),
             ("embedding_dim", mod.embedding_dim)]
    return conv.emit(node, node.name, "embedding", attrs, x.rank + 1, params=params_of(mod))


def layer_norm(conv, node, mod):
    x = conv.tensor(node, bound(conv, node, mod)["input"])
    if len(mod.normalized_shape) != 1:
        conv.fail(node, f"normalized_shape {list(mod.normalized_shape)}: seqc normalizes "
                  "the last dim only")
    attrs = [("input", x)]
    if mod.eps != 1e-5:
        attrs.append(("eps", float(mod.eps)))
    if mod.elementwise_affine:
        params = params_of(mod)
    else:  # seqc's layer_norm always has weight and bias: ones and zeros
        d = mod.normalized_shape[0]
        params = [("weight", torch.ones(d)), ("bias", torch.zeros(d))]
    return conv.emit(node, node.name, "layer_norm", attrs, x.rank, params=params)


def conv1d(conv, node, mod):
    x = conv.tensor(node, bound(conv, node, mod)["input"])
    if x.rank != 3:
        conv.fail(node, f"needs a batched input [B, C, T], got {x.rank}-d")
    if mod.groups != 1:
        conv.fail(node, f"groups={mod.groups}: seqc's conv1d has groups 1 only")
    if mod.padding_mode != "zeros":
        conv.fail(node, f"padding_mode '{mod.padding_mode}': seqc pads with zeros only")
    k, stride, dilation = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
    if mod.padding == "valid":
        padding = 0
    elif mod.padding == "same":
        total = dilation * (k - 1)
        if total % 2:
            conv.fail(node, "padding='same' with an even kernel pads unevenly; seqc "
                      "pads both sides alike")
        padding = total // 2
    else:
        padding = mod.padding[0]
    # PyTorch's conv1d reads [B, C, T]; seqc's reads [B, T, C]
    xt = conv.transpose(node, x, [0, 2, 1], node.name + "_btc")
    attrs = [("input", xt), ("out_channels", mod.out_channels), ("kernel_size", k)]
    if stride != 1:
        attrs.append(("stride", stride))
    if padding:
        attrs.append(("padding", padding))
    if dilation != 1:
        attrs.append(("dilation", dilation))
    if mod.bias is None:
        attrs.append(("bias", False))
    y = conv.emit(node, node.name, "conv1d", attrs, 3, params=params_of(mod))
    return conv.transpose(node, y, [0, 2, 1], node.name + "_bct")


def unary(op, extra=lambda conv, node, mod: []):
    def mapper(conv, node, mod):
        x = conv.tensor(node, bound(conv, node, mod)["input"])
        more = extra(conv, node, mod)
        if op == "softmax":  # has a dim: no moving through transposes
            return conv.emit(node, node.name, op, [("input", x)] + more, x.rank)
        return conv.elementwise(node, node.name, op, x, more)
    return mapper


def gelu_attrs(conv, node, mod):
    return [("approximate", "tanh")] if mod.approximate == "tanh" else []


def softplus_attrs(conv, node, mod):
    if mod.beta != 1 or mod.threshold != 20:
        conv.fail(node, f"beta={mod.beta}, threshold={mod.threshold}: seqc's softplus "
                  "has beta 1 and threshold 20")
    return []


def softmax_attrs(conv, node, mod):
    if mod.dim is None:
        conv.fail(node, "Softmax() without dim (PyTorch's implicit dim); give dim")
    return [("dim", mod.dim)]


def identity(conv, node, mod):
    """Dropout (eval mode) and Identity: the input itself."""
    return conv.get(node.args[0] if node.args else next(iter(node.kwargs.values())))


# ------------------------------------------------------------ recurrent layers

def recurrent(conv, node, mod):
    a = bound(conv, node, mod)
    op = "lstm" if isinstance(mod, nn.LSTM) else "gru" if isinstance(mod, nn.GRU) else "rnn"
    packed = conv.get(a["input"])
    if isinstance(packed, Packed):  # batch_first does not apply to a PackedSequence
        x, first = packed.value, True
    else:
        packed, first = None, mod.batch_first
        x = conv.tensor(node, a["input"])
        if x.rank != 3:
            conv.fail(node, f"needs a batched input, got {x.rank}-d (an unbatched "
                      "sequence has no seqc form)")
        x = batch_first(conv, node, x, first, node.name + "_bt")
    attrs = [("input", x), ("hidden_size", mod.hidden_size)]
    if mod.num_layers != 1:
        attrs.append(("num_layers", mod.num_layers))
    if mod.bidirectional:
        attrs.append(("bidirectional", True))
    if not mod.bias:
        attrs.append(("bias", False))
    if op == "rnn" and mod.nonlinearity != "tanh":
        attrs.append(("nonlinearity", mod.nonlinearity))
    if op == "lstm" and mod.proj_size:
        attrs.append(("proj_size", mod.proj_size))
    hx = conv.get(a["hx"])
    if hx is not None:
        states = hx if op == "lstm" else (hx,)
        if op == "lstm" and not (isinstance(hx, tuple) and len(hx) == 2):
            conv.fail(node, "its hx must be the tuple (h0, c0)")
        for key, s in zip(("h0", "c0"), states):
            if not isinstance(s, Value):
                conv.fail(node, f"its {key} must be a tensor computed from the inputs")
            attrs.append((key, s))
    if packed is not None:
        attrs.append(("lengths", packed.lengths))
    out = conv.emit(node, node.name, op, attrs, 3, params=params_of(mod))
    if packed is not None:
        y = Packed(out, packed.lengths, packed.source, packed.t_axis)
    else:
        y = out if first else conv.transpose(node, out, [1, 0, 2], node.name + "_tb")
    h_n = Value(out.name + ".h_n", 3, "f32")
    if op == "lstm":
        return (y, (h_n, Value(out.name + ".c_n", 3, "f32")))
    return (y, h_n)


# ------------------------------------------------------------------- attention

def check_attention(conv, node, mha, where="its attention"):
    if not mha._qkv_same_embed_dim:
        conv.fail(node, f"{where} has kdim/vdim other than embed_dim; seqc's has one E")
    if mha.bias_k is not None or mha.add_zero_attn:
        conv.fail(node, f"{where} uses add_bias_kv or add_zero_attn, which seqc lacks")


def multihead_attention(conv, node, mod):
    a = bound(conv, node, mod)
    check_attention(conv, node, mod)
    bf = mod.batch_first
    q = batch_first(conv, node, conv.tensor(node, a["query"], "query"), bf, node.name + "_q")
    attrs = [("input", q), ("num_heads", mod.num_heads)]
    if a["key"] is not a["query"] or a["value"] is not a["query"]:
        k = batch_first(conv, node, conv.tensor(node, a["key"], "key"), bf, node.name + "_k")
        attrs.append(("key", k))
        if a["value"] is not a["key"]:
            v = batch_first(conv, node, conv.tensor(node, a["value"], "value"), bf,
                            node.name + "_v")
            attrs.append(("value", v))
    if mod.in_proj_bias is None:
        attrs.append(("bias", False))
    attrs += mask_attrs(*attention_mask(conv, node, a["attn_mask"], "attn_mask"))
    attrs += padding_mask(conv, node, a["key_padding_mask"], "key_padding_mask")
    out = conv.emit(node, node.name, "multihead_attention", attrs, 3, params=params_of(mod))
    if not bf:
        out = conv.transpose(node, out, [1, 0, 2], node.name + "_tb")
    return (out, Unavailable("seqc's multihead_attention returns the attention output "
                             "only, not its weights"))


def activation_name(conv, node, layer):
    act = layer.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate == "none"):
        return "gelu"
    conv.fail(node, f"activation {act}: seqc's Transformer layers take relu or gelu (exact)")


def layer_config(conv, node, layer):
    """A Transformer layer's attributes as seqc names them."""
    check_attention(conv, node, layer.self_attn)
    norms = [layer.norm1, layer.norm2] + ([layer.norm3] if hasattr(layer, "norm3") else [])
    eps = {n.eps for n in norms}
    if len(eps) != 1:
        conv.fail(node, f"its norms have different eps {sorted(eps)}; seqc's layer has one")
    if hasattr(layer, "multihead_attn"):
        check_attention(conv, node, layer.multihead_attn, "its cross-attention")
    return {"nhead": layer.self_attn.num_heads,
            "dim_feedforward": layer.linear1.out_features,
            "activation": activation_name(conv, node, layer),
            "layer_norm_eps": float(eps.pop()),
            "norm_first": bool(layer.norm_first),
            "bias": layer.linear1.bias is not None,
            "batch_first": bool(layer.self_attn.batch_first)}


def config_attrs(cfg):
    attrs = [("nhead", cfg["nhead"]), ("dim_feedforward", cfg["dim_feedforward"])]
    if cfg["activation"] != "relu":
        attrs.append(("activation", cfg["activation"]))
    if cfg["layer_norm_eps"] != 1e-5:
        attrs.append(("layer_norm_eps", cfg["layer_norm_eps"]))
    if cfg["norm_first"]:
        attrs.append(("norm_first", True))
    if not cfg["bias"]:
        attrs.append(("bias", False))
    return attrs


def stack_config(conv, node, layers, what):
    cfgs = [layer_config(conv, node, layer) for layer in layers]
    if any(c != cfgs[0] for c in cfgs):
        conv.fail(node, f"its {what} layers differ in their settings; seqc's stack "
                  "repeats one layer")
    return cfgs[0]


def final_norm(conv, node, norm, cfg, what, required=False):
    if norm is None:
        if required:
            conv.fail(node, f"its {what} has no final norm; seqc's transformer has both")
        return []
    if not isinstance(norm, nn.LayerNorm) or len(norm.normalized_shape) != 1 \
            or not norm.elementwise_affine:
        conv.fail(node, f"its {what}'s final norm must be an nn.LayerNorm over the last dim")
    if float(norm.eps) != cfg["layer_norm_eps"]:
        conv.fail(node, f"its {what}'s final norm has eps {norm.eps}, its layers "
                  f"{cfg['layer_norm_eps']}; seqc uses one eps")
    return [("norm", True)]


def transformer_op(conv, node, mod, op, cfg, values, masks, more):
    """Emits a Transformer layer or stack: values is [(key, fx arg)] of the
    tensor inputs, masks [(key, fx arg)] of the padding masks."""
    bf = cfg["batch_first"]
    attrs = []
    for key, arg in values:
        v = conv.tensor(node, arg, key)
        attrs.append((key, batch_first(conv, node, v, bf, f"{node.name}_{key}")))
    attrs += config_attrs(cfg) + more
    for key, arg in masks:
        attrs += padding_mask(conv, node, arg, key)
    out = conv.emit(node, node.name, op, attrs, 3, params=params_of(mod))
    return out if bf else conv.transpose(node, out, [1, 0, 2], node.name + "_tb")


def no_mask(conv, node, a, key, why):
    if attention_mask(conv, node, a[key], key) != (False, None):
        conv.fail(node, f"its {key} has no seqc form: {why}")


def encoder_layer(conv, node, mod):
    a = bound(conv, node, mod)
    cfg = layer_config(conv, node, mod)
    masks = mask_attrs(*attention_mask(conv, node, a["src_mask"], "src_mask"))
    return transformer_op(conv, node, mod, "transformer_encoder_layer", cfg,
                          [("input", a["src"])],
                          [("src_key_padding_mask", a["src_key_padding_mask"])], masks)


def decoder_layer(conv, node, mod):
    a = bound(conv, node, mod)
    cfg = layer_config(conv, node, mod)
    no_mask(conv, node, a, "memory_mask", "cross-attention sees all of memory")
    masks = mask_attrs(*attention_mask(conv, node, a["tgt_mask"], "tgt_mask"))
    return transformer_op(conv, node, mod, "transformer_decoder_layer", cfg,
                          [("input", a["tgt"]), ("memory", a["memory"])],
                          [("tgt_key_padding_mask", a["tgt_key_padding_mask"]),
                           ("memory_key_padding_mask", a["memory_key_padding_mask"])], masks)


def encoder_stack(conv, node, mod):
    a = bound(conv, node, mod)
    cfg = stack_config(conv, node, mod.layers, "encoder")
    more = [("num_layers", len(mod.layers))] + final_norm(conv, node, mod.norm, cfg, "encoder")
    more += mask_attrs(*attention_mask(conv, node, a["mask"], "mask"))
    return transformer_op(conv, node, mod, "transformer_encoder", cfg,
                          [("input", a["src"])],
                          [("src_key_padding_mask", a["src_key_padding_mask"])], more)


def decoder_stack(conv, node, mod):
    a = bound(conv, node, mod)
    cfg = stack_config(conv, node, mod.layers, "decoder")
    no_mask(conv, node, a, "memory_mask", "cross-attention sees all of memory")
    more = [("num_layers", len(mod.layers))] + final_norm(conv, node, mod.norm, cfg, "decoder")
    more += mask_attrs(*attention_mask(conv, node, a["tgt_mask"], "tgt_mask"))
    return transformer_op(conv, node, mod, "transformer_decoder", cfg,
                          [("input", a["tgt"]), ("memory", a["memory"])],
                          [("tgt_key_padding_mask", a["tgt_key_padding_mask"]),
                           ("memory_key_padding_mask", a["memory_key_padding_mask"])], more)


def transformer(conv, node, mod):
    a = bound(conv, node, mod)
    enc, dec = mod.encoder, mod.decoder
    if not isinstance(enc, nn.TransformerEncoder) or not isinstance(dec, nn.TransformerDecoder):
        conv.fail(node, "a custom_encoder or custom_decoder has no seqc form")
    cfg = stack_config(conv, node, enc.layers, "encoder")
    if stack_config(conv, node, dec.layers, "decoder") != cfg:
        conv.fail(node, "its encoder and decoder layers differ in their settings")
    no_mask(conv, node, a, "src_mask", "seqc's transformer masks only the decoder's "
            "self-attention")
    no_mask(conv, node, a, "memory_mask", "cross-attention sees all of memory")
    more = [("num_encoder_layers", len(enc.layers)), ("num_decoder_layers", len(dec.layers))]
    final_norm(conv, node, enc.norm, cfg, "encoder", required=True)
    final_norm(conv, node, dec.norm, cfg, "decoder", required=True)
    more += mask_attrs(*attention_mask(conv, node, a["tgt_mask"], "tgt_mask"))
    return transformer_op(conv, node, mod, "transformer", cfg,
                          [("src", a["src"]), ("tgt", a["tgt"])],
                          [("src_key_padding_mask", a["src_key_padding_mask"]),
                           ("tgt_key_padding_mask", a["tgt_key_padding_mask"]),
                           ("memory_key_padding_mask", a["memory_key_padding_mask"])], more)


MAPPERS = [
    (nn.Linear, linear), (nn.Embedding, embedding), (nn.LayerNorm, layer_norm),
    (nn.Conv1d, conv1d), (nn.RNN, recurrent), (nn.LSTM, recurrent), (nn.GRU, recurrent),
    (nn.MultiheadAttention, multihead_attention),
    (nn.TransformerEncoderLayer, encoder_layer), (nn.TransformerDecoderLayer, decoder_layer),
    (nn.TransformerEncoder, encoder_stack), (nn.TransformerDecoder, decoder_stack),
    (nn.Transformer, transformer),
    (nn.ReLU, unary("relu")), (nn.GELU, unary("gelu", gelu_attrs)),
    (nn.Tanh, unary("tanh")), (nn.Sigmoid, unary("sigmoid")), (nn.SiLU, unary("silu")),
    (nn.Softplus, unary("softplus", softplus_attrs)),
    (nn.Softmax, unary("softmax", softmax_attrs)),
    (nn.Dropout, identity), (nn.Identity, identity),
]


def mapper_for(mod):
    """The mapper of a module, or None when seqc has no op for it."""
    for cls, mapper in MAPPERS:
        if isinstance(mod, cls):
            return mapper
    return None

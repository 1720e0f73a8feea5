"""Calls that compute values: + - * /, matmul, the functional layers,
reductions and activations, and the constants seqc recognizes in them
(sinusoidal and learned position tables, parameter vectors)."""
import math

import torch
import torch.nn.functional as F

from .arguments import arg, axis
from .converter import Const, Value, Varying


def sinusoid_table(t, d):
    """SPEC 7's positional_encoding table [t, d] in float64."""
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    j = torch.arange(d)
    two_i = (j - j % 2).to(torch.float64)
    angle = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / d)
    return torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))


def is_positional_encoding(conv, node, c):
    """Whether a constant added to a [.., T, D] tensor is the sinusoidal
    table of SPEC 7 for that T in every run (a buffer sliced by x.size(1))."""
    out = conv.shapes(node)
    if len(out) != len(c.values):
        return False
    for (_, shape), t in zip(out, c.values):
        if t.dim() < 2 or any(s != 1 for s in t.shape[:-2]) or len(shape) < 2:
            return False
        if tuple(t.shape[-2:]) != tuple(shape[-2:]) or not t.is_floating_point():
            return False
        n, d = t.shape[-2:]
        want = sinusoid_table(n, d)
        if not torch.allclose(t.reshape(n, d).double(), want, atol=1e-4 + 2e-6 * n, rtol=0):
            return False
    return True


def learned_positions(conv, node, x, c):
    """The parameter whose rows 0..T-1 a constant added to x [B, T, D] is in
    every run (pos_emb[:, :T], or nn.Embedding of torch.arange(T)), as
    (table [N, D], the parameter's name); else None."""
    base = c.base
    if x.rank != 3 or base.dim() < 2 or any(s != 1 for s in base.shape[:-2]):
        return None
    out = conv.shapes(node)
    if len(out) != len(c.values) or any(t.shape[-2] != s[1] for (_, s), t in zip(out, c.values)):
        return None
    d = base.shape[-1]
    for name, p in conv.gm.named_parameters():
        if p.dim() < 2 or p.shape[-1] != d or any(s != 1 for s in p.shape[:-2]):
            continue
        table = p if p.dim() == 2 else p.detach().reshape(-1, d)
        if all(t.shape[-2] <= table.shape[0] and
               torch.equal(t.reshape(-1, d), table[:t.shape[-2]].detach()) for t in c.values):
            return table, name
    return None


def vector_of(c, d):
    """A constant that broadcasts along the last axis only ([D], [1, .., D])
    and is the same in every run, as a [D] tensor; else None."""
    t = c.base
    if t.dim() < 1 or t.shape[-1] != d or any(s != 1 for s in t.shape[:-1]) \
            or not t.is_floating_point() or any(not torch.equal(x, t) for x in c.values):
        return None
    return t.detach().reshape(d).to(torch.float32)


def affine_of(conv, node, op, va, vb):
    """x * g, x + b, x - b, b - x with g, b a parameter vector over x's last
    dim, as a linear node: weight diag(g), or +-I with bias +-b. Each output
    is then the one product or sum PyTorch computes plus exact zeros (for
    finite x), at the price of a D x D weight."""
    if op not in ("add", "sub", "mul"):
        return None
    x, c, x_first = (va, vb, True) if isinstance(va, Value) else (vb, va, False)
    if not (isinstance(x, Value) and isinstance(c, Const)) or x.dtype != "f32":
        return None
    d = conv.shapes(node)[0][1][-1] if conv.shapes(node) else None
    out_rank = len(conv.shapes(node)[0][1]) if d is not None else None
    if d is None or out_rank != x.rank or c.base.dim() > x.rank:
        return None
    g = vector_of(c, d)
    if g is None:
        return None
    if op == "mul":
        weight, bias = torch.diag(g), None
    else:
        sign = -1.0 if (op == "sub" and not x_first) else 1.0
        weight = sign * torch.eye(d)
        bias = g if (op == "add" or not x_first) else -g
    return as_linear(conv, node, x, weight, bias, node.name)


def scalar_of(conv, node, v):
    """A number operand (Python number or one-element constant), else None."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, Const) and v.base.numel() == 1 and all(
            torch.equal(x, v.base) for x in v.values):
        return float(v.base.item())
    if isinstance(v, Varying):
        conv.fail(node, "a number that changes with the input's dims (from x.size()) "
                  "has no seqc form here")
    return None


def binary_of(conv, node, op, a, b):
    va, vb = conv.get(a), conv.get(b)
    if op == "add":
        for x, c in ((va, vb), (vb, va)):
            if isinstance(x, Value) and isinstance(c, Const) and \
                    scalar_of(conv, node, c) is None and is_positional_encoding(conv, node, c):
                return conv.emit(node, node.name, "positional_encoding", [("input", x)],
                                 x.rank)
            found = None
            if isinstance(x, Value) and isinstance(c, Const) and scalar_of(conv, node, c) is None:
                found = learned_positions(conv, node, x, c)
            if found is not None:
                table, pname = found
                pos = conv.emit(node, node.name + "_positions", "positions", [("input", x)],
                                2, "i64")
                hint = pname[:-len(".weight")] if pname.endswith(".weight") else pname
                emb = conv.emit(node, hint, "embedding",
                                [("input", pos), ("num_embeddings", int(table.shape[0])),
                                 ("embedding_dim", int(table.shape[1]))], 3,
                                params=[("weight", table)])
                return conv.emit(node, node.name, "add", [("inputs", [x, emb])], 3)
    if scalar_of(conv, node, va) is None and scalar_of(conv, node, vb) is None:
        affine = affine_of(conv, node, op, va, vb)
        if affine is not None:
            return affine
    operands, rank = [], 0
    for v in (va, vb):
        if isinstance(v, Value):
            if v.dtype != "f32":
                conv.fail(node, "arithmetic on integer tensors has no seqc form (f32 only)")
            operands.append(v)
            rank = max(rank, v.rank)
            continue
        s = scalar_of(conv, node, v)
        if s is None:
            conv.fail(node, "an operand is a constant tensor (a parameter or buffer) seqc "
                      "cannot express; it takes numbers, tensors computed from the inputs, "
                      "a vector over the last dim with + - *, and position tables")
        if not math.isfinite(s):
            conv.fail(node, f"the number {s} has no form in a model file")
        operands.append(s)
    return conv.emit(node, node.name, op, [("inputs", operands)], rank)


def binary(op, swap=False):
    def mapper(conv, node):
        if arg(node, 2, "alpha", 1) != 1:
            conv.fail(node, "alpha other than 1 has no seqc form")
        if op == "div" and arg(node, 2, "rounding_mode") is not None:
            conv.fail(node, "rounding_mode has no seqc form")
        a, b = arg(node, 0, "input"), arg(node, 1, "other")
        return binary_of(conv, node, op, *((b, a) if swap else (a, b)))
    return mapper


def neg(conv, node):
    return binary_of(conv, node, "mul", arg(node, 0, "input"), -1.0)


def transposed_param(conv, n):
    """The nn.Parameter an fx node is the 2-d transpose of, or None."""
    if not hasattr(n, "op"):
        return None
    src = None
    if n.op == "call_method" and n.target == "t":
        src = n.args[0]
    elif n.op == "call_method" and n.target == "transpose" and \
            sorted(x % 2 for x in n.args[1:3]) == [0, 1]:
        src = n.args[0]
    elif n.op == "call_function" and n.target is getattr and n.args[1] in ("T", "mT"):
        src = n.args[0]
    if src is not None and getattr(src, "op", None) == "get_attr":
        p = conv.runs[0][1][src]
        if isinstance(p, torch.nn.Parameter) and p.dim() == 2:
            return p
    return None


def as_linear(conv, node, x, weight, bias, hint):
    """x @ weight.T + bias as a linear node (weight [out, in])."""
    params = [("weight", weight)]
    attrs = [("input", x), ("out_features", int(weight.shape[0]))]
    if bias is None:
        attrs.append(("bias", False))
    else:
        params.append(("bias", bias))
    return conv.emit(node, hint, "linear", attrs, x.rank, params=params)


def constant_tensor(conv, node, v, what):
    if not isinstance(v, Const):
        conv.fail(node, f"its {what} must be a parameter or buffer")
    if any(not torch.equal(x, v.base) for x in v.values):
        conv.fail(node, f"its {what} changes with the input's dims")
    if not v.base.is_floating_point():
        conv.fail(node, f"its {what} must be a float tensor")
    return v.base


def matmul(conv, node):
    a, b = arg(node, 0, "input"), arg(node, 1, "other")
    va, vb = conv.get(a), conv.get(b)
    if isinstance(va, Value) and isinstance(vb, Value):
        return conv.emit(node, node.name, "matmul", [("inputs", [va, vb])],
                         max(va.rank, vb.rank))
    if isinstance(va, Value) and isinstance(vb, Const) and vb.base.dim() == 2:
        p = transposed_param(conv, b)
        weight = p if p is not None else constant_tensor(conv, node, vb, "weight").t()
        return as_linear(conv, node, va, weight.contiguous() if p is None else p, None,
                         node.name)
    conv.fail(node, "seqc multiplies two computed tensors, or a computed tensor by a "
              "2-d parameter (as a linear layer)")


def f_linear(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    w = conv.get(arg(node, 1, "weight"))
    b = conv.get(arg(node, 2, "bias"))
    weight = constant_tensor(conv, node, w, "weight")
    bias = None if b is None else constant_tensor(conv, node, b, "bias")
    return as_linear(conv, node, x, weight, bias, node.name)


def f_embedding(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    weight = constant_tensor(conv, node, conv.get(arg(node, 1, "weight")), "weight")
    if arg(node, 3, "max_norm") is not None:
        conv.fail(node, "max_norm has no seqc form")
    if x.dtype == "f32":
        conv.fail(node, "its input must be integer indices")
    attrs = [("input", x), ("num_embeddings", int(weight.shape[0])),
             ("embedding_dim", int(weight.shape[1]))]
    return conv.emit(node, node.name, "embedding", attrs, x.rank + 1,
                     params=[("weight", weight)])


def f_layer_norm(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    shape = conv.get(arg(node, 1, "normalized_shape"))
    if isinstance(shape, int):
        shape = [shape]
    if len(shape) != 1:
        conv.fail(node, "seqc normalizes the last dim only")
    w, b = conv.get(arg(node, 2, "weight")), conv.get(arg(node, 3, "bias"))
    d = int(shape[0])
    weight = torch.ones(d) if w is None else constant_tensor(conv, node, w, "weight")
    bias = torch.zeros(d) if b is None else constant_tensor(conv, node, b, "bias")
    eps = conv.number(node, arg(node, 4, "eps", 1e-5), "eps")
    attrs = [("input", x)] + ([("eps", float(eps))] if eps != 1e-5 else [])
    return conv.emit(node, node.name, "layer_norm", attrs, x.rank,
                     params=[("weight", weight), ("bias", bias)])


def mean(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    dims = conv.get(arg(node, 1, "dim"))
    keep = bool(conv.get(arg(node, 2, "keepdim", False)))
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):
        conv.fail(node, "a mean over all dims has no seqc form; give dim")
    if conv.get(arg(node, 3, "dtype")) is not None:
        conv.fail(node, "dtype has no seqc form")
    if not isinstance(dims, (list, tuple)):
        dims = [dims]
    dims = sorted({axis(conv, node, d, x.rank) for d in dims}, reverse=True)
    made = getattr(x, "permuted_from", None)
    if made is not None:  # the mean of a transpose: the transpose of the mean
        source, perm = made
        taken = [perm[d] for d in dims]
        y = mean_over(conv, node, source, sorted(taken, reverse=True), keep)
        rest = perm if keep else [p - sum(p > t for t in taken) for p in perm
                                  if p not in taken]
        return conv.transpose(node, y, rest, node.name + "_t")
    return mean_over(conv, node, x, dims, keep)


def mean_over(conv, node, x, dims, keep):
    """Means over dims, highest first so that the lower ones keep their place."""
    v = x
    for d in dims:
        attrs = [("input", v), ("dim", d)] + ([("keepdim", True)] if keep else [])
        v = conv.emit(node, node.name, "mean", attrs, v.rank if keep else v.rank - 1)
    return v


def softmax(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    d = conv.get(arg(node, 1, "dim"))
    if d is None:
        conv.fail(node, "softmax without dim (PyTorch's implicit dim); give dim")
    if conv.get(arg(node, 3 if node.target is F.softmax else 2, "dtype")) is not None:
        conv.fail(node, "dtype has no seqc form")
    return conv.emit(node, node.name, "softmax", [("input", x), ("dim", int(d))], x.rank)


def unary(op):
    def mapper(conv, node):
        x = conv.tensor(node, arg(node, 0, "input"))
        attrs = []
        if op == "gelu":
            approx = conv.get(arg(node, 1, "approximate", "none"))
            if approx == "tanh":
                attrs.append(("approximate", "tanh"))
        if op == "softplus":
            beta = conv.get(arg(node, 1, "beta", 1))
            threshold = conv.get(arg(node, 2, "threshold", 20))
            if beta != 1 or threshold != 20:
                conv.fail(node, "seqc's softplus has beta 1 and threshold 20")
        return conv.elementwise(node, node.name, op, x, attrs)
    return mapper

"""Functions and Tensor methods to seqc's primitive ops. Each mapper takes
(converter, fx node) and returns the converted result."""
import math
import operator

import torch
import torch.nn.functional as F
import torch.nn.utils.rnn as rnn_utils

from .converter import Const, Value, Varying
from .layers import Packed, Unavailable


def arg(node, i, name, default=None):
    """Argument i (or keyword `name`) of a call, else default."""
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def axis(conv, node, d, rank):
    if not isinstance(d, int) or isinstance(d, bool):
        conv.fail(node, f"its dim must be an integer, not {type(d).__name__}")
    if not -rank <= d < rank:
        conv.fail(node, f"dim {d} is out of range for a {rank}-d tensor")
    return d % rank


# ----------------------------------------------------------------- arithmetic

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


# ------------------------------------------------------------------ matmul

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


# ------------------------------------------------------------------ shapes

def tensors(conv, node, items):
    out = []
    for it in items:
        v = conv.get(it)
        if not isinstance(v, Value):
            conv.fail(node, "every tensor joined must be computed from the inputs")
        out.append(v)
    return out


def cat(conv, node):
    vs = tensors(conv, node, arg(node, 0, "tensors"))
    d = conv.number(node, arg(node, 1, "dim", 0), "dim")
    if len(vs) == 1:
        return vs[0]
    return conv.emit(node, node.name, "concat", [("inputs", vs), ("dim", int(d))],
                     vs[0].rank, vs[0].dtype)


def transpose(conv, node):
    x = conv.tensor(node, arg(node, 0, "input"))
    if node.target == "t" or (node.target is getattr and node.args[1] == "T"):
        perm = list(reversed(range(x.rank)))
    elif node.target is getattr and node.args[1] == "mT":
        perm = list(range(x.rank - 2)) + [x.rank - 1, x.rank - 2]
    else:
        d0 = axis(conv, node, conv.get(arg(node, 1, "dim0")), x.rank)
        d1 = axis(conv, node, conv.get(arg(node, 2, "dim1")), x.rank)
        perm = list(range(x.rank))
        perm[d0], perm[d1] = perm[d1], perm[d0]
    return conv.transpose(node, x, perm, node.name)


def permute(conv, node):
    x = conv.tensor(node, node.args[0])
    dims = list(node.args[1:]) if node.op == "call_method" else [arg(node, 1, "dims")]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = list(dims[0])
    if not dims:
        dims = list(node.kwargs.get("dims", []))
    perm = [axis(conv, node, conv.get(d), x.rank) for d in dims]
    if sorted(perm) != list(range(x.rank)):
        conv.fail(node, f"{perm} is not a permutation of the {x.rank} dims")
    return conv.transpose(node, x, perm, node.name)


def reshape(conv, node):
    """view, reshape, flatten, unsqueeze, squeeze: seqc's reshape to the
    result's shape with B, T, ... named (see Converter.symbolic_shape)."""
    src = arg(node, 0, "input")
    x = conv.tensor(node, src)
    shape = conv.symbolic_shape(node)
    if hasattr(src, "op") and shape == conv.symbolic_shape(src):
        return x
    return conv.emit(node, node.name, "reshape", [("input", x), ("shape", shape)],
                     len(shape), x.dtype)


def same(conv, node):
    """Calls that change nothing seqc sees: contiguous, clone, detach,
    dropout at inference, and dtype casts that keep f32 as f32 and integers
    as integers (bool masks are given to seqc as integers)."""
    x = conv.get(arg(node, 0, "input"))
    if not isinstance(x, Value):
        return x
    target = None
    if node.target in ("float",):
        target = "f32"
    elif node.target in ("long", "int", "bool"):
        target = "int"
    elif node.target in ("to", "type"):
        for a in list(node.args[1:]) + list(node.kwargs.values()):
            a = conv.get(a)
            if isinstance(a, torch.dtype):
                target = "f32" if a == torch.float32 else (
                    "int" if a in (torch.int64, torch.int32, torch.bool) else str(a))
    if target is None:
        return x
    kind = "f32" if x.dtype == "f32" else "int"
    if target != kind:
        conv.fail(node, f"a cast from {x.dtype} to {target} has no seqc form")
    return x


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


# ------------------------------------------------------------------ indexing

def getitem(conv, node):
    obj = conv.get(node.args[0])
    idx = node.args[1]
    if isinstance(obj, (tuple, list)):
        i = conv.get(idx)
        if isinstance(i, slice):
            return obj[i]
        if not isinstance(i, int):
            conv.fail(node, "a tuple is indexed by a constant")
        item = obj[i]
        if isinstance(item, Unavailable):
            conv.fail(node, item.reason)
        return item
    if not isinstance(obj, Value):
        conv.fail(node, f"indexing a {type(obj).__name__} has no seqc form")
    return slice_tensor(conv, node, obj, idx)


def slice_tensor(conv, node, x, idx):
    """x[idx] with ints, slices of step 1, None and ...: select, slice and,
    for None, a reshape."""
    items = list(idx) if isinstance(idx, tuple) else [idx]
    consuming = sum(1 for it in items if it is not None and it is not Ellipsis)
    shapes = conv.shapes(node.args[0])
    cur, ax, src_ax, unsqueeze = x, 0, 0, False
    for it in items:
        if it is None:
            unsqueeze = True
            continue
        if it is Ellipsis:
            ax += x.rank - consuming
            src_ax += x.rank - consuming
            continue
        if src_ax >= x.rank:
            conv.fail(node, "too many indices")
        lengths = [s[src_ax] for _, s in shapes]
        if isinstance(it, slice):
            if conv.get(it.step) not in (None, 1):
                conv.fail(node, "slices with a step have no seqc form")
            start = 0 if it.start is None else conv.index(node, it.start, lengths, "start")
            end = None if it.stop is None else conv.index(node, it.stop, lengths, "end")
            if end is not None and end >= 0 and all(end >= n for n in lengths):
                end = None
            if start != 0 or end is not None:
                attrs = [("input", cur), ("dim", ax), ("start", start)]
                if end is not None:
                    attrs.append(("end", end))
                cur = conv.emit(node, node.name, "slice", attrs, cur.rank, cur.dtype)
            ax += 1
        else:
            if isinstance(conv.get(it), Value):
                conv.fail(node, "indexing with a tensor has no seqc form")
            i = conv.index(node, it, lengths, "index")
            cur = conv.emit(node, node.name, "select",
                            [("input", cur), ("dim", ax), ("index", i)], cur.rank - 1,
                            cur.dtype)
        src_ax += 1
    if unsqueeze:
        shape = conv.symbolic_shape(node)
        cur = conv.emit(node, node.name, "reshape", [("input", cur), ("shape", shape)],
                        len(shape), cur.dtype)
    return cur


def chunk(conv, node):
    """chunk(n, dim) and split(size, dim) on a fixed-size axis: slices."""
    x = conv.tensor(node, node.args[0])
    shapes = conv.shapes(node.args[0])
    d = axis(conv, node, conv.get(arg(node, 2, "dim", 0)), x.rank)
    sizes = {s[d] for _, s in shapes}
    if len(sizes) != 1:
        conv.fail(node, "splitting an axis that changes with B or T has no seqc form")
    n = sizes.pop()
    k = conv.number(node, arg(node, 1, "chunks" if node.target in ("chunk", torch.chunk)
                              else "split_size_or_sections"), "size")
    if node.target in ("chunk", torch.chunk):
        step = -(-n // int(k))
    else:
        step = int(k)
    out = []
    for start in range(0, n, step):
        end = min(n, start + step)
        out.append(conv.emit(node, node.name, "slice",
                             [("input", x), ("dim", d), ("start", start), ("end", end)],
                             x.rank, x.dtype))
    return tuple(out)


def pack_padded(conv, node):
    """pack_padded_sequence(x, lengths, batch_first, enforce_sorted): the
    padded tensor and the lengths, for the recurrent layer that reads them."""
    src = arg(node, 0, "input")
    x = conv.tensor(node, src)
    lengths = conv.get(arg(node, 1, "lengths"))
    if not isinstance(lengths, Value) or lengths.dtype == "f32" or lengths.rank != 1:
        conv.fail(node, "its lengths must be an integer [B] model input (seqc's "
                  "`lengths:` is a value of the model)")
    if x.rank != 3:
        conv.fail(node, f"needs a batched [B, T, F] input, got {x.rank}-d")
    first = bool(conv.get(arg(node, 2, "batch_first", False)))
    value = x if first else conv.transpose(node, x, [1, 0, 2], node.name + "_bt")
    return Packed(value, lengths, src, 1 if first else 0)


def pad_packed(conv, node):
    """pad_packed_sequence(packed, batch_first, padding_value, total_length):
    seqc's output, zeros past each row's length, padded to T."""
    p = conv.get(arg(node, 0, "sequence"))
    if not isinstance(p, Packed):
        conv.fail(node, "it unpacks something other than a recurrent layer's packed output")
    if conv.get(arg(node, 2, "padding_value", 0.0)) != 0:
        conv.fail(node, "seqc pads with zeros only")
    first = bool(conv.get(arg(node, 1, "batch_first", False)))
    for _, r in conv.runs:
        if node in r and p.source in r and \
                r[node][0].shape[1 if first else 0] != r[p.source].shape[p.t_axis]:
            conv.fail(node, "it pads to the longest row, seqc pads to T: pass "
                      "total_length=x.size(1)")
    out = p.value if first else conv.transpose(node, p.value, [1, 0, 2], node.name + "_tb")
    return (out, p.lengths)


def tensor_attribute(conv, node):
    if node.args[1] in ("T", "mT"):
        return transpose(conv, node)
    conv.fail(node, f"the attribute .{node.args[1]} has no seqc form")


FUNCTIONS = {
    operator.add: binary("add"), torch.add: binary("add"),
    operator.sub: binary("sub"), torch.sub: binary("sub"), torch.subtract: binary("sub"),
    torch.rsub: binary("sub", swap=True),
    operator.mul: binary("mul"), torch.mul: binary("mul"), torch.multiply: binary("mul"),
    operator.truediv: binary("div"), torch.div: binary("div"), torch.true_divide: binary("div"),
    operator.neg: neg, torch.neg: neg,
    operator.matmul: matmul, torch.matmul: matmul, torch.bmm: matmul,
    F.linear: f_linear, F.embedding: f_embedding, F.layer_norm: f_layer_norm,
    torch.cat: cat, torch.concat: cat,
    torch.transpose: transpose, torch.permute: permute,
    torch.reshape: reshape, torch.flatten: reshape, torch.unsqueeze: reshape,
    torch.squeeze: reshape,
    torch.mean: mean,
    F.softmax: softmax, torch.softmax: softmax,
    F.relu: unary("relu"), torch.relu: unary("relu"), F.gelu: unary("gelu"),
    torch.tanh: unary("tanh"), F.tanh: unary("tanh"),
    torch.sigmoid: unary("sigmoid"), F.sigmoid: unary("sigmoid"),
    F.silu: unary("silu"), F.softplus: unary("softplus"), torch.exp: unary("exp"),
    F.dropout: same, torch.clone: same, torch.chunk: chunk, torch.split: chunk,
    operator.getitem: getitem, getattr: tensor_attribute,
    rnn_utils.pack_padded_sequence: pack_padded, rnn_utils.pad_packed_sequence: pad_packed,
}

METHODS = {
    "add": binary("add"), "sub": binary("sub"), "mul": binary("mul"), "div": binary("div"),
    "neg": neg, "matmul": matmul, "bmm": matmul,
    "transpose": transpose, "t": transpose, "permute": permute,
    "view": reshape, "reshape": reshape, "flatten": reshape, "unsqueeze": reshape,
    "squeeze": reshape, "view_as": reshape, "reshape_as": reshape,
    "contiguous": same, "clone": same, "detach": same, "float": same, "long": same,
    "int": same, "bool": same, "to": same, "type": same,
    "mean": mean, "softmax": softmax,
    "relu": unary("relu"), "tanh": unary("tanh"), "sigmoid": unary("sigmoid"),
    "exp": unary("exp"), "chunk": chunk, "split": chunk,
}

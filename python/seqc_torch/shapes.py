"""Calls that move values around: cat, transpose, reshape, indexing,
chunk, casts that change nothing, and packed sequences."""
import torch

from .arguments import arg, axis
from .converter import Value
from .layers import Packed, Unavailable


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

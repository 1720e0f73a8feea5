"""The traced graph to a seqc model: fx nodes to YAML nodes.

Nodes are converted on demand, from the module's outputs back, so that what
seqc does not need (an attention mask built from T, the shape arithmetic of
a view) is read from the recorded runs instead of becoming nodes. The layer
mappers live in layers.py, the function and method mappers in arithmetic.py and
shapes.py (looked up through the tables of functions.py)."""
import re
import sys

import torch
import torch.fx as fx

from .errors import SeqcExportError

DTYPES = {torch.float32: "f32", torch.int32: "i32", torch.int64: "i64", torch.bool: "i64"}


class Value:
    """A tensor the model computes: a value name of the model file."""

    def __init__(self, name, rank, dtype):
        self.name = name    # `node` or `node.output`
        self.rank = rank    # number of dims
        self.dtype = dtype  # "f32", "i32" or "i64"

    def __repr__(self):
        return f"Value({self.name})"


class Const:
    """A tensor that does not depend on the inputs' values: a parameter, a
    buffer, or something made from them and from the inputs' shapes."""

    def __init__(self, values):
        self.values = values  # the tensor in each run, the base run first

    @property
    def base(self):
        return self.values[0]


class Varying:
    """A number that changes with a named dim (x.size(1), T - 1, ...)."""

    def __init__(self, values):
        self.values = values  # the number in each run, the base run first


class Emitted:
    """One node of the model file."""

    def __init__(self, name, attrs, params, deps, fx_node):
        self.name = name        # the node's name
        self.attrs = attrs      # list of (key, value), op first
        self.params = params    # list of (PARAM, tensor) written as NAME.PARAM
        self.deps = deps        # names of the nodes and inputs it reads
        self.fx_node = fx_node  # the traced node it comes from (for errors)


def source_line(node):
    """'file.py:LINE' of the user's call that made an fx node, or None."""
    trace = getattr(node, "stack_trace", None) or ""
    for m in re.finditer(r'File "([^"]+)", line (\d+)', trace):
        path = m.group(1)
        if re.search(r"-packages/torch/", path):  # torch's own frames
            continue
        return f"{path}:{m.group(2)}"
    return None


def describe(node, gm):
    """What an fx node calls, for error messages."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        return f"module '{node.target}' ({type(mod).__module__}.{type(mod).__name__})"
    if node.op == "call_method":
        return f"method Tensor.{node.target}"
    if node.op == "call_function" and node.target is getattr:
        return f"attribute Tensor.{node.args[1]}"
    if node.op == "call_function":
        t = node.target
        mod = getattr(t, "__module__", None) or ""
        name = getattr(t, "__name__", str(t))
        if mod in ("_operator", "operator"):
            mod = "operator"
        sub = re.match(r"torch\._C\._(\w+)$", mod)
        if sub and name.startswith(sub.group(1) + "_"):  # torch.fft.fft is torch._C._fft.fft_fft
            mod, name = "torch." + sub.group(1), name[len(sub.group(1)) + 1:]
        elif mod.startswith("torch._C"):
            mod = "torch"
        return f"function {mod + '.' if mod else ''}{name}"
    if node.op == "get_attr":
        return f"attribute '{node.target}'"
    return f"'{node.name}'"


class Converter:
    """Holds the traced module, its recorded runs and the nodes made so far."""

    def __init__(self, gm, inputs, axes, dims, runs, dependence):
        self.gm = gm
        self.inputs = inputs          # input name -> example tensor
        self.axes = axes              # input name -> dim name or None per axis
        self.dims = dims              # named dim -> example size (dims that vary)
        self.runs = runs              # list of (dim grown or None, {fx node: result})
        self.dependence = dependence  # fx node -> depends on input values
        self.memo = {}                # fx node -> converted result
        self.nodes = []               # Emitted, in order
        self.names = set(inputs)      # names taken in the model file

    # ------------------------------------------------------------ errors

    def fail(self, node, message):
        where = source_line(node) if node is not None else None
        what = describe(node, self.gm) if node is not None else "module"
        raise SeqcExportError(f"{where + ': ' if where else ''}{what}: {message}")

    # ------------------------------------------------------- conversion

    def get(self, arg):
        """An fx argument converted: Value, Const, Varying, a Python literal,
        or a tuple/list/dict of them."""
        if isinstance(arg, fx.Node):
            if arg not in self.memo:
                try:
                    self.memo[arg] = self.convert_node(arg)
                except (SeqcExportError, RecursionError):
                    raise
                except Exception as e:  # a call the mappers did not foresee
                    self.fail(arg, f"the exporter cannot read this call "
                              f"({type(e).__name__}: {e})")
            return self.memo[arg]
        if isinstance(arg, (tuple, list)):
            return type(arg)(self.get(a) for a in arg)
        if isinstance(arg, dict):
            return {k: self.get(v) for k, v in arg.items()}
        return arg

    def convert_node(self, node):
        from . import functions, layers
        if not self.dependence[node]:
            return self.constant(node)
        if node.op == "placeholder":
            t = self.inputs[node.target]
            return Value(node.target, t.dim(), DTYPES[t.dtype])
        if node.op == "call_module":
            mod = self.gm.get_submodule(node.target)
            mapper = layers.mapper_for(mod)
            if mapper is None:
                self.fail(node, "seqc has no op for this module "
                          "(docs/exporter.md lists the modules it maps)")
            return mapper(self, node, mod)
        if node.op == "call_function":
            mapper = functions.FUNCTIONS.get(node.target)
            if mapper is None:
                self.fail(node, "seqc has no op for this function "
                          "(docs/exporter.md lists the functions it maps)")
            return mapper(self, node)
        if node.op == "call_method":
            mapper = functions.METHODS.get(node.target)
            if mapper is None:
                self.fail(node, "seqc has no op for this method "
                          "(docs/exporter.md lists the methods it maps)")
            return mapper(self, node)
        self.fail(node, f"unexpected fx node kind {node.op}")

    def constant(self, node):
        values = [r[node] for _, r in self.runs if node in r]
        base = values[0]
        if isinstance(base, torch.Tensor):
            return Const(values)
        if all(_same(v, base) for v in values):
            return base
        return Varying(values)

    # ------------------------------------------------------ arguments

    def tensor(self, node, arg, what="input"):
        """A Value argument, or an error saying what it was instead."""
        v = self.get(arg)
        if isinstance(v, Value):
            return v
        if isinstance(v, Const):
            self.fail(node, f"its {what} is a constant tensor (a parameter or buffer, or "
                      "made from them); seqc takes only tensors computed from the inputs here")
        self.fail(node, f"its {what} is not a tensor ({type(v).__name__})")

    def number(self, node, arg, what):
        """A Python number argument that is the same in every run."""
        v = self.get(arg)
        if isinstance(v, Const) and v.base.numel() == 1 and all(
                torch.equal(x, v.base) for x in v.values):
            return v.base.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.fail(node, f"its {what} must be a number fixed at export, not "
                      f"{type(v).__name__}")
        return v

    def index(self, node, arg, lengths, what):
        """A position along an axis of lengths[run] (per run): a constant, or
        a constant distance from the end (T - 1 becomes -1)."""
        v = self.get(arg)
        if isinstance(v, Varying):
            offsets = {x - n for x, n in zip(v.values, lengths)}
            if len(offsets) == 1 and next(iter(offsets)) < 0:
                return next(iter(offsets))
            self.fail(node, f"its {what} changes with the input's dims in a way seqc "
                      "cannot express (only constants and len - k)")
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(node, f"its {what} must be an integer, not {type(v).__name__}")
        return v

    def shapes(self, node):
        """The shape of an fx node's tensor in every run whose dims grew (the
        base run first) as [(dim grown or None, shape)]."""
        out = []
        for dim, r in self.runs:
            if node in r and isinstance(r[node], torch.Tensor):
                out.append((dim, tuple(r[node].shape)))
        return out

    def symbolic_shape(self, node):
        """The shape of an fx node's result with B, T, ... named: an axis that
        grows with exactly one dim as that dim does is that dim; one that does
        not change is its size; any other (B*T, (T+1)/2) is -1, at most once."""
        shapes = self.shapes(node)
        base = shapes[0][1]
        out = []
        for i, size in enumerate(base):
            grown = [(d, s[i]) for d, s in shapes[1:]]
            changed = [(d, s) for d, s in grown if s != size]
            if not changed:
                out.append(int(size))
            elif (len(changed) == 1 and self.dims[changed[0][0]] == size
                  and changed[0][1] == size + 1):
                out.append(changed[0][0])
            else:
                out.append(-1)
        if out.count(-1) > 1:
            self.fail(node, f"its result's shape {list(base)} has more than one axis "
                      "derived from the dims (as B*T); seqc's reshape takes one -1")
        return out

    # --------------------------------------------------------- emitting

    def fresh(self, hint):
        name = re.sub(r"[^A-Za-z0-9_]", "_", hint) or "n"
        if not re.match(r"[A-Za-z_]", name):
            name = "n_" + name
        if name in self.names:
            k = 1
            while f"{name}_{k}" in self.names:
                k += 1
            name = f"{name}_{k}"
        self.names.add(name)
        return name

    def emit(self, node, hint, op, attrs, rank, dtype="f32", params=()):
        """Adds a node; attrs is a list of (key, value) where value may be a
        Value (written as its name) or a list of Values. Returns its Value."""
        name = self.fresh(hint)
        written, deps = [("op", op)], set()
        for key, v in attrs:
            if isinstance(v, Value):
                deps.add(v.name.split(".")[0])
                v = v.name
            elif isinstance(v, list) and any(isinstance(x, Value) for x in v):
                deps.update(x.name.split(".")[0] for x in v if isinstance(x, Value))
                v = [x.name if isinstance(x, Value) else x for x in v]
            written.append((key, v))
        self.nodes.append(Emitted(name, written, list(params), deps, node))
        return Value(name, rank, dtype)

    def elementwise(self, node, hint, op, x, more=()):
        """A unary op; on a transposed value it runs on the source and the
        transpose moves after it, where a later one may cancel it (the
        relu between two conv1d of a PyTorch [B, C, T] model)."""
        made = getattr(x, "permuted_from", None)
        if made is None:
            return self.emit(node, hint, op, [("input", x)] + list(more), x.rank, x.dtype)
        source, perm = made
        y = self.emit(node, hint, op, [("input", source)] + list(more), source.rank,
                      source.dtype)
        return self.transpose(node, y, perm, hint + "_t")

    def transpose(self, node, v, perm, hint):
        """v with its axes permuted; a permutation that undoes the one that
        made v gives back v's source (conv1d's layout changes cancel)."""
        if list(perm) == list(range(v.rank)):
            return v
        made = getattr(v, "permuted_from", None)
        if made is not None:
            source, first = made
            combined = [first[p] for p in perm]
            if combined == list(range(source.rank)):
                return source
        out = self.emit(node, hint, "transpose", [("input", v), ("dims", list(perm))],
                        v.rank, v.dtype)
        out.permuted_from = (v, list(perm))
        return out


def _same(a, b):
    try:
        return type(a) == type(b) and bool(a == b)
    except Exception:
        return False


def finish(conv, outputs, name):
    """The model (for yaml_writer) and its weights from the converted
    outputs: drops nodes no output needs, turns a second use of a parameter
    into a `weight:` tie (linear, embedding) or a copy (other ops)."""
    by_name = {e.name: e for e in conv.nodes}
    live, stack = set(), [o.name.split(".")[0] for o in outputs]
    while stack:
        n = stack.pop()
        if n in live or n not in by_name:
            continue
        live.add(n)
        stack.extend(by_name[n].deps)
    nodes, weights, owner = [], {}, {}
    for e in conv.nodes:
        if e.name not in live:
            continue
        op = e.attrs[0][1]
        attrs = list(e.attrs)
        for pname, tensor in e.params:
            key = id(tensor)
            if key in owner and op in ("linear", "embedding") and pname == "weight":
                first_name, first_tensor = owner[key]
                if tuple(first_tensor.shape) == tuple(tensor.shape):
                    attrs.append(("weight", first_name))
                    continue
            full = f"{e.name}.{pname}"
            owner.setdefault(key, (full, tensor))
            weights[full] = tensor.detach().to(torch.float32).contiguous()
        nodes.append((e.name, attrs))
    inputs = []
    for n, t in conv.inputs.items():
        shape = [d if d is not None and d in conv.dims else int(s)
                 for d, s in zip(conv.axes[n], t.shape)]
        inputs.append((n, DTYPES[t.dtype], shape))
    model = {"name": name, "dims": dict(conv.dims), "inputs": inputs,
             "outputs": [o.name for o in outputs], "nodes": nodes}
    return model, weights


def deep_recursion():
    """Conversion recurses from a node to its arguments; deep graphs need room."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))

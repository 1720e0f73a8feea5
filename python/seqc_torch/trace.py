"""Tracing a module with torch.fx and running the traced graph on the example
inputs, once as given and once more for every named dim grown by one. The
runs tell the converter what it cannot see in a single run: which axes of an
intermediate tensor are B or T (for `reshape`), whether a slice bound or a
mask follows T, and which numbers are constants."""
import dis
import inspect

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.utils.rnn as rnn_utils

from .errors import SeqcExportError

# Modules that seqc knows as one op (or as nothing, for Dropout and Identity):
# the tracer keeps them whole instead of tracing into their forward.
LEAF_TYPES = (
    nn.Embedding, nn.Linear, nn.LayerNorm, nn.RNN, nn.LSTM, nn.GRU,
    nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
    nn.TransformerEncoder, nn.TransformerDecoder, nn.Transformer, nn.Conv1d,
    nn.Dropout, nn.Identity, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU,
    nn.Softplus, nn.Softmax,
)

SEQUENCE_DIM_NAMES = ["T", "S", "U", "V", "W"]


class SeqcTracer(fx.Tracer):
    """torch.fx's tracer with seqc's layers as leaves and the user's source
    line recorded on every node (for error messages)."""

    def __init__(self):
        super().__init__()
        self.record_stack_traces = True
        self.proxy_buffer_attributes = True  # a buffer sliced by x.size(1) traces

    def is_leaf_module(self, m, qualname):
        return isinstance(m, LEAF_TYPES) or super().is_leaf_module(m, qualname)


def forward_parameters(module):
    """The names of module.forward's parameters, in order (no self)."""
    sig = inspect.signature(module.forward)
    return [p for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def bind_inputs(module, example_inputs):
    """example_inputs (a tensor, a tuple/list of them, or a dict by name) as
    a dict forward-parameter name -> tensor; the parameters not given must
    have defaults, which the trace then fixes (concrete_args)."""
    params = forward_parameters(module)
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    if isinstance(example_inputs, dict):
        given = dict(example_inputs)
        unknown = [k for k in given if k not in [p.name for p in params]]
        if unknown:
            raise SeqcExportError(f"example input '{unknown[0]}' is not a parameter of "
                                  f"{type(module).__name__}.forward")
    else:
        example_inputs = tuple(example_inputs)
        if len(example_inputs) > len(params):
            raise SeqcExportError(f"{len(example_inputs)} example inputs for "
                                  f"{type(module).__name__}.forward, which takes {len(params)}")
        given = {p.name: t for p, t in zip(params, example_inputs)}
    inputs, concrete = {}, {}
    for p in params:
        if p.name in given:
            t = given[p.name]
            if not isinstance(t, torch.Tensor):
                concrete[p.name] = t
                continue
            inputs[p.name] = t
        elif p.default is not inspect.Parameter.empty:
            concrete[p.name] = p.default
        else:
            raise SeqcExportError(f"no example input for '{p.name}' of "
                                  f"{type(module).__name__}.forward")
    return inputs, concrete


# Tensor factories that take sizes: fx in torch 1.13 cannot pass a Proxy (a
# size read from x.size(1)) to them, so during tracing they record a node
# when a size is a Proxy (a causal mask made from T, torch.arange(T)).
FACTORIES = ["arange", "ones", "zeros", "full", "empty", "eye"]
# Packed sequences: torch.fx cannot trace into these; kept as one node each,
# they become the `lengths:` of the recurrent layer between them (SPEC 11).
PACKING = ["pack_padded_sequence", "pad_packed_sequence"]


def factory_wrapper(original):
    def wrapper(*args, **kwargs):
        found = []
        fx.node.map_aggregate((args, kwargs), lambda a: found.append(a)
                              if isinstance(a, fx.Proxy) else None)
        if not found:
            return original(*args, **kwargs)
        return found[0].tracer.create_proxy("call_function", original, args, kwargs)
    return wrapper


def proxy_iter(self):
    """fx.Proxy.__iter__ that finds the unpacking instruction by its offset:
    torch 1.13's f_lasti // 2 misses it on Python 3.11, whose bytecode has
    cache entries, so `out, (h, c) = self.lstm(x)` failed to trace."""
    calling_frame = inspect.currentframe().f_back
    for inst in dis.get_instructions(calling_frame.f_code):
        if inst.offset == calling_frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
            break
    return self.tracer.iter(self)


def packing_patches(module):
    """(namespace, name, original) for every way the module's code may call
    the packing functions: torch.nn.utils.rnn.NAME, and NAME imported into
    the globals of a forward. (fx's own autowrap_functions makes its
    generated code call fx.wrap with a dotted name, which breaks every later
    trace in the process on torch 1.13.)"""
    originals = {id(getattr(rnn_utils, n)): n for n in PACKING}
    found = [(vars(rnn_utils), n, getattr(rnn_utils, n)) for n in PACKING]
    seen = set()
    for m in module.modules():
        g = getattr(type(m).forward, "__globals__", None)
        if g is None or id(g) in seen:
            continue
        seen.add(id(g))
        found += [(g, k, v) for k, v in g.items() if id(v) in originals]
    return found


def trace(module, concrete):
    """The module as an fx GraphModule, seqc's layers kept whole."""
    tracer = SeqcTracer()
    saved = {name: getattr(torch, name) for name in FACTORIES}
    saved_packing = packing_patches(module)
    saved_iter = fx.Proxy.__iter__
    try:
        fx.Proxy.__iter__ = proxy_iter
        for name, f in saved.items():
            setattr(torch, name, factory_wrapper(f))
        for namespace, name, f in saved_packing:
            namespace[name] = factory_wrapper(f)
        graph = tracer.trace(module, concrete_args=concrete or None)
    except SeqcExportError:
        raise
    except Exception as e:  # fx raises many kinds; all mean "cannot trace"
        raise SeqcExportError(
            f"torch.fx cannot trace {type(module).__name__}: {type(e).__name__}: {e} "
            "(data-dependent control flow? a TorchScript module? see docs/exporter.md)") from e
    finally:
        fx.Proxy.__iter__ = saved_iter
        for namespace, name, f in saved_packing:
            namespace[name] = f
        for name, f in saved.items():
            setattr(torch, name, f)
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


class Recorder(fx.Interpreter):
    """Runs the traced graph and keeps every node's result."""

    def __init__(self, gm):
        super().__init__(gm, garbage_collect_values=False)
        self.values = {}  # fx node -> its result in this run

    def run_node(self, n):
        result = super().run_node(n)
        self.values[n] = result
        return result


def run_graph(gm, inputs):
    """Every node's result for one set of inputs (a dict by input name)."""
    args = []
    for n in gm.graph.nodes:
        if n.op != "placeholder":
            continue
        if n.target in inputs:
            args.append(inputs[n.target])
        else:  # a concrete argument: its placeholder's default
            args.append(n.args[0] if n.args else None)
    rec = Recorder(gm)
    with torch.no_grad():
        rec.run(*args)
    return rec.values


def name_axes(inputs, overrides):
    """Which axes of each input are the named dims: a dict input -> list of
    dim name or None (fixed size), and the dims' sizes. Axis 0 of every input
    is B (when its size is the first input's batch), but axis 1 of a later
    f32 [L, B, H] (a recurrent state, h0 or c0); axis 1 is a sequence dim
    of an integer input [B, T] or of any input of rank >= 3, named T for the
    first length seen, S, U, ... for other lengths. `overrides` (input name ->
    list of names or None) replaces the guess for an input."""
    axes, dims, seq_names = {}, {}, {}
    batch = None
    for name, t in inputs.items():
        if name in overrides:
            names = list(overrides[name])
            if len(names) != t.dim():
                raise SeqcExportError(f"dims for input '{name}' name {len(names)} axes, "
                                      f"it has {t.dim()}")
            for d, size in zip(names, t.shape):
                if d is None:
                    continue
                if dims.get(d, size) != size:
                    raise SeqcExportError(f"dim {d} is {dims[d]} in one input and {size} "
                                          f"in '{name}'")
                dims[d] = int(size)
            axes[name] = names
            continue
        names = [None] * t.dim()
        if (batch is not None and t.dim() == 3 and t.is_floating_point()
                and int(t.shape[0]) != batch and int(t.shape[1]) == batch):
            names[1] = "B"  # a recurrent state [layers*directions, B, H]
            axes[name] = names
            continue
        if t.dim() >= 1:
            if batch is None:
                batch = int(t.shape[0])
            if int(t.shape[0]) == batch:
                names[0] = "B"
                dims["B"] = batch
        integer = not t.is_floating_point()
        if t.dim() >= 3 or (t.dim() == 2 and integer):
            size = int(t.shape[1])
            if size not in seq_names:
                used = set(dims)
                free = [d for d in SEQUENCE_DIM_NAMES if d not in used]
                if not free:
                    raise SeqcExportError("too many different sequence lengths among the inputs")
                seq_names[size] = free[0]
                dims[free[0]] = size
            names[1] = seq_names[size]
        axes[name] = names
    return axes, dims


def grow(inputs, axes, dim):
    """The inputs with every axis named `dim` one longer (its last slice repeated)."""
    out = {}
    for name, t in inputs.items():
        for axis, d in enumerate(axes[name]):
            if d == dim:
                t = torch.cat([t, t.narrow(axis, t.shape[axis] - 1, 1)], axis)
        out[name] = t
    return out


def output_sequence_first(gm, runs, axes, sizes):
    """Renames the sequence dims so that T is the one the model's first
    output runs along (its axis 1): a seq2seq model's target, whose length
    is also SPEC 9's position dim, rather than its source."""
    out = next(n for n in gm.graph.nodes if n.op == "output")
    first = out.args[0]
    while isinstance(first, (tuple, list)) and first:
        first = first[0]
    grown = dict((d, r) for d, r in runs[1:])
    value = lambda r: _first_tensor(r.get(first))
    base = value(runs[0][1])
    if "T" not in sizes or base is None or base.dim() < 2:
        return axes, sizes, runs
    follows = [d for d, r in grown.items()
               if d != "B" and value(r) is not None and value(r).dim() >= 2
               and value(r).shape[1] == base.shape[1] + 1 and base.shape[1] == sizes[d]]
    if len(follows) != 1 or follows[0] == "T":
        return axes, sizes, runs
    swap = {"T": follows[0], follows[0]: "T"}
    axes = {n: [swap.get(d, d) for d in names] for n, names in axes.items()}
    sizes = {swap.get(d, d): v for d, v in sizes.items()}
    runs = [(swap.get(d, d), r) for d, r in runs]
    return axes, sizes, runs


def _first_tensor(v):
    while isinstance(v, (tuple, list)) and v:
        v = v[0]
    return v if isinstance(v, torch.Tensor) else None


def data_dependence(gm, inputs):
    """fx node -> True when its value depends on an input's values (not only
    on shapes): those nodes become the model's nodes, the others constants."""
    dep = {}
    shape_only_methods = {"size", "dim"}
    shape_only_attrs = {"shape", "dtype", "device", "ndim"}
    for n in gm.graph.nodes:
        if n.op == "placeholder":
            dep[n] = n.target in inputs
        elif n.op == "get_attr":
            dep[n] = False
        elif n.op == "call_method" and n.target in shape_only_methods:
            dep[n] = False
        elif (n.op == "call_function" and n.target is getattr
              and len(n.args) > 1 and n.args[1] in shape_only_attrs):
            dep[n] = False
        else:
            found = []
            fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(dep.get(a, False)))
            dep[n] = any(found)
    return dep

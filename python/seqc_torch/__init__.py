"""seqc_torch: from a PyTorch nn.Module to a seqc model.

    import seqc_torch
    seqc_torch.export(model, (tokens,), "m.yaml", "m.safetensors")

traces the module with torch.fx, writes the model file (SPEC's language) and
its weights (safetensors, NODE.PARAM names), runs seqc on the example inputs
and prints (and returns) the largest difference from the module's output.
What it cannot map raises SeqcExportError naming the module or function and
its source line. docs/exporter.md has the list of what it maps."""
import re

import torch

from .check import run_check
from .converter import Converter, Value, deep_recursion, finish
from .errors import SeqcExportError
from .safetensors import read_safetensors, write_safetensors
from .trace import (bind_inputs, data_dependence, grow, name_axes, output_sequence_first,
                    run_graph, trace)
from .yaml_writer import model_text

__all__ = ["export", "SeqcExportError", "read_safetensors", "write_safetensors"]

INPUT_DTYPES = (torch.float32, torch.int32, torch.int64, torch.bool)


def flatten(obj):
    """The leaves of a nested tuple/list/dict, in order."""
    if isinstance(obj, (tuple, list)):
        return [x for o in obj for x in flatten(o)]
    if isinstance(obj, dict):
        return [x for o in obj.values() for x in flatten(o)]
    return [obj]


def earliest_failure(gm, node, failed):
    """The error of the first node (in graph order) among node's ancestors
    that could not be converted: the call the user has to change."""
    ancestors, stack = set(), [node] if hasattr(node, "op") else []
    while stack:
        n = stack.pop()
        if n in ancestors:
            continue
        ancestors.add(n)
        stack.extend(n.all_input_nodes)
    for n in gm.graph.nodes:
        if n in ancestors and n in failed:
            return failed[n]
    return None


def model_name(module):
    """The class name in snake_case, a valid seqc model name."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type(module).__name__)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    name = re.sub(r"[^a-z0-9_]", "_", name)
    return name if re.match(r"[a-z_]", name) else "model_" + name


def export(module, example_inputs, yaml_path, weights_path, seqc=None, check=True,
           name=None, dims=None, input_path=None, quiet=False, strict=False):
    """Exports `module` (an nn.Module) for the given example inputs (a
    tensor, a tuple of them in forward's order, or a dict by parameter name)
    to the model file `yaml_path` and the weights `weights_path`.

    seqc: the seqc binary for the check (else $SEQC, else `seqc` on PATH).
    check: run seqc on the example inputs and compare with the module.
    name: the model's name (default: the class name in snake_case).
    dims: {input name: [dim name or None per axis]} where the guess (axis 0
        is B, axis 1 of a token tensor or a [B, T, F] tensor is T) is wrong.
    input_path: also keep the example inputs there (safetensors).
    strict: a check outside SPEC 8's tolerance raises SeqcExportError.
    Returns the largest |seqc - PyTorch| (None without check)."""
    if not isinstance(module, torch.nn.Module):
        raise SeqcExportError(f"export takes an nn.Module, not {type(module).__name__}")
    if isinstance(module, torch.jit.ScriptModule):
        raise SeqcExportError("a TorchScript module cannot be traced by torch.fx; export "
                              "the Python module (torch.save(model) keeps it whole)")
    was_training = module.training
    module.eval()
    try:
        return _export(module, example_inputs, yaml_path, weights_path, seqc, check,
                       name or model_name(module), dims or {}, input_path, quiet, strict)
    finally:
        module.train(was_training)


def _export(module, example_inputs, yaml_path, weights_path, seqc, check, name, dims,
            input_path, quiet, strict):
    inputs, concrete = bind_inputs(module, example_inputs)
    for n, t in inputs.items():
        if t.dtype not in INPUT_DTYPES:
            raise SeqcExportError(f"example input '{n}' is {t.dtype}; seqc's inputs are "
                                  "float32, int32, int64 (and bool masks, given as int64)")
    gm = trace(module, concrete)
    axes, sizes = name_axes(inputs, dims)
    try:
        runs = [(None, run_graph(gm, inputs))]
    except Exception as e:
        raise SeqcExportError(f"the traced module fails on the example inputs: "
                              f"{type(e).__name__}: {e}") from e
    fixed = []
    for d in list(sizes):
        try:
            runs.append((d, run_graph(gm, grow(inputs, axes, d))))
        except Exception:  # the module needs this size: keep it fixed
            fixed.append(d)
            del sizes[d]
    axes, sizes, runs = output_sequence_first(gm, runs, axes, sizes)
    conv = Converter(gm, inputs, axes, sizes, runs, data_dependence(gm, inputs))
    deep_recursion()
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    results = flatten(out_node.args[0])
    # Convert in graph order first (shallow recursion, and the earliest call
    # seqc cannot map is the one an error names), then from the outputs.
    failed = {}
    for n in gm.graph.nodes:
        if conv.dependence.get(n) and n.op != "output":
            try:
                conv.get(n)
            except SeqcExportError as e:
                failed[n] = e
    converted = []
    for r in results:
        try:
            converted += flatten(conv.get(r))
        except SeqcExportError as e:
            raise earliest_failure(gm, r, failed) or e
    outputs = []
    for k, v in enumerate(converted):
        if not isinstance(v, Value):
            raise SeqcExportError(f"output {k} of the module is not a tensor computed from "
                                  f"the inputs ({type(v).__name__}); seqc's outputs are")
        outputs.append(v)
    names = [v.name for v in outputs]
    for k, n in enumerate(names):
        if n in names[:k]:
            raise SeqcExportError(f"the module returns '{n}' twice; a seqc output is "
                                  "listed once")
    model, weights = finish(conv, outputs, name)
    model["header"] = [f"{name}: exported by seqc_torch from "
                       f"{type(module).__module__}.{type(module).__name__}."]
    for d in fixed:
        model["header"].append(f"{d} is fixed at its example size: the module did not run "
                               f"with another {d}.")
    with open(yaml_path, "w") as f:
        f.write(model_text(model))
    write_safetensors(weights_path, weights)
    if input_path:
        from .check import input_tensors
        write_safetensors(input_path, input_tensors(inputs))
    if not check:
        return None
    with torch.no_grad():
        expected = module(**inputs, **concrete)
    expected = [t for t in flatten(expected)]
    return run_check(seqc, yaml_path, weights_path, inputs, names, expected, quiet=quiet,
                     strict=strict)

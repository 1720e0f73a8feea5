"""The model file as text: one flow mapping per node, as models/*.yaml are
written, so that a person can read and edit what the exporter made."""
import math
import re

PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def scalar(v):
    """One attribute value as YAML 1.2 text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"the number {v} has no form in a model file")
        text = repr(v)
        return text if ("." in text or "e" in text) else text + ".0"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    text = str(v)
    if PLAIN.match(text) and text.lower() not in YAML_WORDS:
        return text
    return "'" + text.replace("'", "''") + "'"


def model_text(model):
    """model: dict with name, dims (name -> size), inputs (list of (name,
    dtype, shape)), outputs (value names), nodes (list of (name, attrs) with
    attrs a list of (key, value) pairs, op first), header (comment lines)."""
    lines = ["# " + h if h else "#" for h in model.get("header", [])]
    lines.append("seqc: 1")
    lines.append(f"name: {model['name']}")
    if model["dims"]:
        dims = ", ".join(f"{k}: {v}" for k, v in model["dims"].items())
        lines.append("dims: {" + dims + "}")
    lines.append("inputs:")
    for name, dtype, shape in model["inputs"]:
        lines.append(f"  {name}: {{dtype: {dtype}, shape: {scalar(shape)}}}")
    lines.append("outputs: " + scalar(model["outputs"]))
    lines.append("nodes:" if model["nodes"] else "nodes: {}")
    width = max((len(n) for n, _ in model["nodes"]), default=0) + 1
    for name, attrs in model["nodes"]:
        body = ", ".join(f"{k}: {scalar(v)}" for k, v in attrs)
        lines.append(f"  {(name + ':').ljust(width)} {{{body}}}")
    return "\n".join(lines) + "\n"

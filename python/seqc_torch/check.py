"""Running seqc on the example inputs and comparing with PyTorch."""
import os
import shutil
import subprocess
import tempfile

import torch

from .errors import SeqcExportError
from .safetensors import read_safetensors, write_safetensors


def find_seqc(seqc=None):
    """The seqc binary: the argument, else $SEQC, else `seqc` on PATH."""
    path = seqc or os.environ.get("SEQC") or shutil.which("seqc")
    if not path:
        raise SeqcExportError("no seqc binary to check the export with: pass seqc=PATH, "
                              "set $SEQC, put seqc on PATH, or pass check=False")
    if not os.path.exists(path):
        raise SeqcExportError(f"seqc binary {path} does not exist")
    return path


def input_tensors(inputs):
    """The example inputs as seqc reads them: bool masks as i64."""
    return {n: (t.long() if t.dtype == torch.bool else t) for n, t in inputs.items()}


def within_spec(got, want):
    """SPEC 8: |got - want| <= 1e-4 + 1e-4 |want| everywhere."""
    return bool(((got - want).abs() <= 1e-4 + 1e-4 * want.abs()).all())


def run_check(seqc, yaml_path, weights_path, inputs, output_names, expected,
              input_path=None, quiet=False, strict=False):
    """Runs `seqc run` and returns the largest |seqc - PyTorch| over all
    outputs; a failed run or a missing output is a SeqcExportError, and with
    strict an output outside SPEC 8's tolerance too."""
    binary = find_seqc(seqc)
    with tempfile.TemporaryDirectory(prefix="seqc_torch_") as tmp:
        in_path = input_path or os.path.join(tmp, "in.safetensors")
        write_safetensors(in_path, input_tensors(inputs))
        out_path = os.path.join(tmp, "out.safetensors")
        cmd = [binary, "run", yaml_path, "--weights", weights_path, "--input", in_path,
               "--output", out_path]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise SeqcExportError(f"seqc run failed (exit status {p.returncode}) on the "
                                  f"exported model:\n{p.stderr.strip()}\n(command: "
                                  f"{' '.join(cmd)})")
        got = read_safetensors(out_path)
    worst, ok = 0.0, True
    for name, want in zip(output_names, expected):
        if name not in got:
            raise SeqcExportError(f"seqc's output has no '{name}'")
        g, w = got[name].double(), want.detach().double()
        if tuple(g.shape) != tuple(w.shape):
            raise SeqcExportError(f"output '{name}': seqc gives shape {list(g.shape)}, "
                                  f"PyTorch {list(w.shape)}")
        if g.numel():
            worst = max(worst, float((g - w).abs().max()))
        ok = ok and within_spec(g, w)
    if not quiet:
        print(f"seqc_torch: largest |seqc - PyTorch| = {worst:.3g} over "
              f"{len(output_names)} output(s) "
              f"({'within' if ok else 'OUTSIDE'} SPEC 8's 1e-4 + 1e-4*|PyTorch|)")
    if strict and not ok:
        raise SeqcExportError(f"seqc's outputs differ from PyTorch's by up to {worst:.3g}, "
                              "outside SPEC 8's 1e-4 + 1e-4*|PyTorch|")
    return worst

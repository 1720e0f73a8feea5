"""python3 -m seqc_torch export MODEL.pt --input EXAMPLE.safetensors -o M.yaml -w M.safetensors

MODEL.pt is a whole module saved with torch.save(model) (its class must be
importable here); EXAMPLE.safetensors holds the example inputs under the
names of the module's forward parameters. Exit status: 0 exported (and
checked), 1 the module or its data cannot be exported or seqc's outputs are
outside SPEC 8's tolerance of the module's, 2 usage."""
import argparse
import sys

from .errors import SeqcExportError

USAGE_EXAMPLE = """example:
  python3 -m seqc_torch export model.pt --input example.safetensors -o m.yaml -w m.safetensors
  seqc run m.yaml --weights m.safetensors --input example.safetensors --output out.safetensors
"""


def parser():
    p = argparse.ArgumentParser(
        prog="python3 -m seqc_torch",
        description="Export a PyTorch nn.Module to a seqc model (YAML and safetensors).",
        epilog=USAGE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser(
        "export", help="export a module saved with torch.save(model)",
        description="Trace MODEL.pt (a whole nn.Module saved with torch.save; a "
        "TorchScript file cannot be traced) on the example inputs, write the model "
        "file and its weights, and run seqc on the inputs to compare with PyTorch.",
        epilog=USAGE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("model", help="the module, saved with torch.save(model)")
    e.add_argument("--input", required=True, metavar="EXAMPLE.safetensors",
                   help="example inputs, named as forward's parameters")
    e.add_argument("-o", "--output", required=True, metavar="M.yaml",
                   help="the model file to write")
    e.add_argument("-w", "--weights", required=True, metavar="M.safetensors",
                   help="the weights file to write")
    e.add_argument("--name", help="the model's name (default: the class name)")
    e.add_argument("--seqc", metavar="PATH",
                   help="the seqc binary for the check (default: $SEQC, else seqc on PATH)")
    e.add_argument("--no-check", action="store_true",
                   help="do not run seqc to compare with PyTorch")
    return p


def load_module(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        raise SeqcExportError(f"{path}: cannot load: {type(e).__name__}: {e} (the module's "
                              "class must be importable: put its file on PYTHONPATH)") from e
    if isinstance(obj, torch.jit.ScriptModule):
        raise SeqcExportError(f"{path}: a TorchScript module cannot be traced by torch.fx; "
                              "save the Python module with torch.save(model)")
    if not isinstance(obj, torch.nn.Module):
        raise SeqcExportError(f"{path}: holds a {type(obj).__name__}, not a module (a "
                              "state_dict needs its module: save it with torch.save(model))")
    return obj


def main(argv=None):
    args = parser().parse_args(argv)
    from . import export, read_safetensors
    try:
        module = load_module(args.model)
        try:
            inputs = read_safetensors(args.input)
        except (OSError, ValueError, KeyError) as e:
            raise SeqcExportError(f"{args.input}: cannot read: {e}") from e
        export(module, inputs, args.output, args.weights, seqc=args.seqc,
               check=not args.no_check, name=args.name, strict=True)
    except SeqcExportError as e:
        print(f"seqc_torch: error: {e}", file=sys.stderr)
        return 1
    print(f"seqc_torch: wrote {args.output} and {args.weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

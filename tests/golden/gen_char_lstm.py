#!/usr/bin/python3
"""gen_char_lstm.py: golden data for models/char_lstm.yaml with its trained weights.

    /usr/bin/python3 tests/golden/gen_char_lstm.py           # (re)write char_lstm/
    /usr/bin/python3 tests/golden/gen_char_lstm.py --check   # recompute and compare

Reads models/char_lstm.safetensors and models/char_lstm.vocab (written by
models/train_char_lstm.py), runs the model in PyTorch 1.13 float32 eager (the
CharLSTM module of the training script, loaded from the weights file) and writes
tests/golden/char_lstm/:
    prompt_input.safetensors     tokens i32 [2, 20]: two 20-character prompts
    prompt_expected.safetensors  logits [2, 20, 63], lstm.h_n, lstm.c_n [1, 2, 288]
    greedy_input.safetensors     tokens i32 [1, 203]: "The " and the greedy text
                                 but its last character
    greedy_expected.safetensors  PyTorch's outputs on it
    expected_greedy.txt          the 200 characters greedy decoding gives after the
                                 prompt "The " (exactly those: no prompt, no newline)
    expected_greedy.safetensors  the same as `seqc generate --output` writes it
                                 (SPEC 9): tokens i64 [1, 204] (prompt included),
                                 logits [1, 200, 63] (the step that chose each token)
Greedy decoding here is the plain reference: at each step the whole sequence so
far runs again from position 0 and the argmax of the last position's logits is
the next token. The same decoding in float64 must choose the same 200 tokens,
and the script prints the smallest gap between the best and the second-best
logit on the way and the largest float32/float64 difference of the chosen
steps' logits. With the committed weights: a gap of 1.0e-3 at step 33 (after
"...shall be a stranger", 's' over ' '), against a float32 rounding of 8e-6: an
engine that computes as closely as PyTorch picks the same tokens, although SPEC
8's tolerance (about 7e-4 at a logit of 6) alone would not promise it.
tests/golden/char_lstm.sh runs the cases.
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "char_lstm")
WEIGHTS = os.path.join(ROOT, "models", "char_lstm.safetensors")
VOCAB = os.path.join(ROOT, "models", "char_lstm.vocab")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "models"))
import gen  # noqa: E402  (safetensors reading and writing)
from train_char_lstm import CharLSTM  # noqa: E402

PROMPTS = ["In the beginning God", "And the LORD said un"]
GREEDY_PROMPT = "The "
GREEDY_STEPS = 200
MIN_GAP = 5e-4   # the greedy path's smallest top-1/top-2 gap must be at least this


def read_vocab(path):
    """The vocab file as a list of token strings, SPEC 9's escapes undone."""
    tokens = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f.read().split("\n")[:-1]:
            text, i = "", 0
            while i < len(line):
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in "n\\":
                    text += "\n" if line[i + 1] == "n" else "\\"
                    i += 2
                else:
                    text += line[i]
                    i += 1
            tokens.append(text)
    return tokens


def encode(text, vocab):
    """Token ids of text, the longest matching token first (SPEC 9's --prompt)."""
    ids, i = [], 0
    while i < len(text):
        best = max((k for k, t in enumerate(vocab) if t and text.startswith(t, i)),
                   key=lambda k: len(vocab[k]), default=None)
        assert best is not None, f"no token for {text[i]!r} at {i}"
        ids.append(best)
        i += len(vocab[best])
    return ids


def load_model():
    w = gen.read_safetensors(WEIGHTS)
    vocab_size, embed_dim = w["embed.weight"].shape
    model = CharLSTM(vocab_size, embed_dim, w["lstm.weight_hh_l0"].shape[1])
    model.load_state_dict(w, strict=True)
    return model.eval()


def outputs(model, tokens):
    """The model's outputs by the YAML's output names."""
    logits, h, c = model(tokens.long())
    return {"logits": logits, "lstm.h_n": h, "lstm.c_n": c}


def greedy(model, prompt_ids):
    """tokens [1, P+N] i64, the chosen steps' logits [1, N, V], the smallest gap."""
    seq, steps, gap = list(prompt_ids), [], float("inf")
    for _ in range(GREEDY_STEPS):
        last = model(torch.tensor([seq]))[0][0, -1]
        top = torch.topk(last, 2).values
        gap = min(gap, (top[0] - top[1]).item())
        steps.append(last)
        seq.append(int(torch.argmax(last)))
    return torch.tensor([seq], dtype=torch.int64), torch.stack(steps)[None], gap


def make_files():
    """name -> content (a dict of tensors, or text) of every file of char_lstm/."""
    vocab = read_vocab(VOCAB)
    model = load_model()
    assert model.embed.num_embeddings == len(vocab), "vocab and weights disagree"
    files = {}
    with torch.no_grad():
        prompt = torch.tensor([encode(p, vocab) for p in PROMPTS], dtype=torch.int32)
        files["prompt_input.safetensors"] = {"tokens": prompt}
        files["prompt_expected.safetensors"] = outputs(model, prompt)
        tokens, logits, gap = greedy(model, encode(GREEDY_PROMPT, vocab))
        tokens64, logits64, _ = greedy(load_model().double(), encode(GREEDY_PROMPT, vocab))
        rounding = (logits64 - logits.double()).abs().max().item()
        text = "".join(vocab[i] for i in tokens[0, len(GREEDY_PROMPT):].tolist())
        print(f"greedy from {GREEDY_PROMPT!r}: smallest top-2 gap {gap:.2e}, "
              f"float32 against float64 {rounding:.1e}:\n{text}")
        assert torch.equal(tokens, tokens64), "float64 decoding chooses other tokens"
        assert gap >= MIN_GAP, f"a near tie on the greedy path ({gap}): choose another prompt"
        files["expected_greedy.txt"] = text
        files["expected_greedy.safetensors"] = {"tokens": tokens, "logits": logits}
        whole = tokens[:, :-1].to(torch.int32)
        files["greedy_input.safetensors"] = {"tokens": whole}
        files["greedy_expected.safetensors"] = outputs(model, whole)
        # the last step's logits from the whole run are the greedy step's: the
        # re-run prefix and one run over the sequence agree
        assert torch.allclose(files["greedy_expected.safetensors"]["logits"][0, -1],
                              logits[0, -1], atol=1e-5)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the files, write none")
    a = ap.parse_args()
    torch.set_num_threads(1)
    files = make_files()
    os.makedirs(OUT, exist_ok=True)
    for name, content in files.items():
        path = os.path.join(OUT, name)
        if a.check:
            if isinstance(content, str):
                with open(path, encoding="utf-8", newline="\n") as f:
                    assert f.read() == content, f"{name} differs"
                continue
            old = gen.read_safetensors(path)
            assert list(old) == list(content), f"{name}: tensors {list(old)}"
            for k, t in content.items():
                assert old[k].dtype == t.dtype and old[k].shape == t.shape, f"{name}: {k}"
                assert torch.allclose(old[k].double(), t.double(), atol=1e-6), f"{name}: {k}"
        elif isinstance(content, str):
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(content)
        else:
            gen.write_safetensors(path, content)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in files)
    print(f"{'checked' if a.check else 'wrote'} {len(files)} files in "
          f"{os.path.relpath(OUT, ROOT)}, {total / 1e3:.0f} kB")


if __name__ == "__main__":
    main()

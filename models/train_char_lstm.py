#!/usr/bin/python3
"""train_char_lstm.py: trains models/char_lstm.yaml, a character-level LSTM
language model, on the King James Bible, with PyTorch.

    /usr/bin/python3 models/train_char_lstm.py            # writes the two files below
    /usr/bin/python3 models/train_char_lstm.py --steps 50 --out /tmp/x   # a quick try

What: embedding (48) -> one-layer LSTM (hidden 288) -> linear to the vocab,
the nodes `embed`, `lstm`, `logits` of models/char_lstm.yaml (the submodules
below carry those names, so the state_dict is the weights file, SPEC 2). It
reads the next character after every position of random 100-character
windows, batch 64, Adam with a cosine-decayed learning rate, all seeded.
It writes, into models/ (or --out):
    char_lstm.safetensors   the state_dict, f32 (about 1.6 MB)
    char_lstm.vocab         the characters, one a line, line k is token id k,
                            a newline written `\\n` and a backslash `\\\\` (SPEC 9)

Which text: the King James Version of the Bible (1611; its copyright has long
expired, as /usr/share/doc/bible-kjv-text/copyright says), from the Debian
package bible-kjv-text (/usr/lib/bible.data), read through the `bible`
program of the package bible-kjv, which depends on it:
    apt-get install bible-kjv
The verse numbers and chapter titles are dropped: one verse a line.

How long: 900 steps, about 5 minutes on 2 idle cores with OpenBLAS
(libopenblas0-openmp; the script re-runs itself with it on LD_LIBRARY_PATH, as
bench/common.sh's torch_env does, without touching the system's libblas alternative).
Debian's default netlib BLAS is about 12 times slower. On a busy machine
`--threads 1` is faster than 2 (an OpenMP team of 2 waits on its slower
thread); the re-run also sets OMP_WAIT_POLICY=passive, so waiting threads
sleep instead of spinning on the cores that others need. The committed
weights: `--threads 1`, 15 minutes on a 2-core machine busy with other builds,
final training loss 1.197 nats a character, held-out loss 1.254. Seeds are fixed: a
rerun with the same BLAS and thread count gives the same weights up to the
float rounding of threaded reductions.

After retraining, rerun tests/golden/gen_char_lstm.py: the golden test's
expected numbers and greedy text come from these weights.
"""
import argparse
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
import gen  # noqa: E402  (write_safetensors: Debian 12 has no safetensors package)

TEXT_PACKAGE = "bible-kjv-text"     # ships the text
TEXT_FILE = "/usr/lib/bible.data"   # the text, compressed in the package's own format
READER_PACKAGE = "bible-kjv"        # ships the program that reads it
READER = "/usr/bin/bible"
ALL_VERSES = "gen1:1-rev22:21"
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"

EMBED_DIM = 48
HIDDEN = 288
BATCH = 64
WINDOW = 100       # characters a training window reads
LR_MAX, LR_MIN = 4e-3, 2e-4
SEED = 1611


class CharLSTM(nn.Module):
    """The model of char_lstm.yaml, node for node: submodule names are node names."""

    def __init__(self, vocab_size, embed_dim=EMBED_DIM, hidden=HIDDEN):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True)
        self.logits = nn.Linear(hidden, vocab_size)

    def forward(self, tokens):
        """tokens [B, T] -> logits [B, T, V], h_n [1, B, H], c_n [1, B, H]."""
        y, (h, c) = self.lstm(self.embed(tokens))
        return self.logits(y), h, c


def read_text():
    """The KJV text, one verse a line without its number; exits with a message
    saying which package to install when the text or its reader is missing."""
    for path, pkg in ((TEXT_FILE, TEXT_PACKAGE), (READER, READER_PACKAGE)):
        if not os.path.exists(path):
            sys.exit(f"train_char_lstm.py: {path} is missing; it comes with the Debian "
                     f"package {pkg}: apt-get install {READER_PACKAGE}")
    # -l: a line width wider than any verse, so each verse is one line
    out = subprocess.run([READER, "-l", "100000", ALL_VERSES], check=True,
                         capture_output=True, text=True).stdout
    verses = []
    for line in out.split("\n"):
        # a verse is "  N text"; chapter titles ("Genesis 1") and blank lines are not
        parts = line.strip().split(" ", 1)
        if line.startswith(" ") and len(parts) == 2 and parts[0].isdigit():
            verses.append(parts[1].strip())
    if len(verses) < 30000:
        sys.exit(f"train_char_lstm.py: read only {len(verses)} verses from {READER}, "
                 "want the whole Bible (31102)")
    return "\n".join(verses) + "\n"


def vocab_line(ch):
    """A character as a line of the vocab file (SPEC 9's escapes)."""
    return {"\n": "\\n", "\\": "\\\\"}.get(ch, ch)


def train(text, steps, log_every):
    """Trains a CharLSTM on text; returns it, the vocab and the last losses."""
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    # the last 2% is held out, for a loss on text the model has not read
    split = len(data) * 98 // 100
    train_data, held = data[:split], data[split:]

    torch.manual_seed(SEED)
    model = CharLSTM(len(chars))
    opt = torch.optim.Adam(model.parameters(), lr=LR_MAX)
    windows = torch.Generator().manual_seed(SEED)
    print(f"{len(text)} characters, {len(chars)} in the vocab, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {steps} steps")
    t0 = time.time()
    recent = []
    for step in range(steps):
        lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(train_data) - WINDOW - 1, (BATCH,), generator=windows)
        x = torch.stack([train_data[s:s + WINDOW] for s in starts])
        y = torch.stack([train_data[s + 1:s + WINDOW + 1] for s in starts])
        logits, _, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent = (recent + [loss.item()])[-50:]
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"step {step + 1:5d}  loss {sum(recent) / len(recent):.4f}  "
                  f"lr {lr:.5f}  {time.time() - t0:6.1f} s", flush=True)
    with torch.no_grad():
        n = (len(held) - 1) // WINDOW * WINDOW
        x = held[:n].reshape(-1, WINDOW)
        y = held[1:n + 1].reshape(-1, WINDOW)
        logits, _, _ = model(x)
        held_loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1)).item()
    print(f"final training loss {sum(recent) / len(recent):.4f} (mean of the last "
          f"{len(recent)} steps), held-out loss {held_loss:.4f}, "
          f"{time.time() - t0:.0f} s of training")
    return model, chars


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=900, help="training steps (900)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    ap.add_argument("--out", default=HERE, help="folder for the two files (models/)")
    ap.add_argument("--log-every", type=int, default=50)
    a = ap.parse_args()
    # OpenBLAS for this process only (see the top): re-run with it found first
    if os.path.isdir(OPENBLAS_DIR) and OPENBLAS_DIR not in os.environ.get("LD_LIBRARY_PATH", ""):
        env = dict(os.environ, LD_LIBRARY_PATH=OPENBLAS_DIR + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        env.setdefault("OMP_WAIT_POLICY", "passive")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    torch.set_num_threads(a.threads)
    model, chars = train(read_text(), a.steps, a.log_every)
    os.makedirs(a.out, exist_ok=True)
    weights = os.path.join(a.out, "char_lstm.safetensors")
    gen.write_safetensors(weights, model.state_dict())
    vocab = os.path.join(a.out, "char_lstm.vocab")
    with open(vocab, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(vocab_line(c) + "\n" for c in chars)
    print(f"wrote {weights} ({os.path.getsize(weights)} bytes) and {vocab} "
          f"({len(chars)} tokens)")


if __name__ == "__main__":
    main()

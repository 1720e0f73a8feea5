#!/usr/bin/python3
"""gen_generate.py: golden data for `seqc generate`, made by PyTorch 1.13 float32 eager.

    /usr/bin/python3 tests/golden/gen_generate.py    # (re)write tests/golden/generate/

Each case is a small language model and a prompt. The reference decodes
greedily as SPEC 9 says, the plain way: at every step it runs the whole
sequence (prompt and the tokens chosen so far) from position 0 through the
model, takes the argmax (lowest id on ties) of each row's last position, and
appends it; with an eos, a row that produced it keeps producing it, and the
loop stops when every row has. The model is run by the golden reference of
gen.py, gen_transformer.py and gen_recurrent.py (each layer node the
PyTorch module it mirrors), so the weights file is its state_dict.

For every case it writes tests/golden/generate/NAME/:
    model.yaml            the model
    weights.safetensors   its parameters
    input.safetensors     the prompt's tokens [B, P] under the token input's name,
                          and the model's other inputs (a seq2seq model's source)
    expected.safetensors  `tokens` i64 [B, P+N] and `logits` f32 [B, N, V], as
                          `seqc generate --output` writes them
    args                  the options of `seqc generate` (--max-new-tokens, --eos)

Greedy decoding amplifies any difference in the logits, so each case checks
that every choice wins by a clear margin (MARGIN, far above SPEC 8's
tolerance) and tries the next seed when one does not: the goldens test seqc,
not a coin toss between two nearly equal logits. tests/cli/generate.sh runs
the cases; it needs no Python.
"""
import os
import shutil
import sys
import zlib

import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402  (safetensors writer, trained-looking init)
import gen_transformer  # noqa: E402,F401  (sets gen.Reference to know attention)
import gen_recurrent  # noqa: E402  (its Reference extends that one with lstm)

OUT = os.path.join(gen.HERE, "generate")
MARGIN = 1e-2  # the smallest gap allowed between the best and the second best logit

GPT = """\
# A decoder-only Transformer: token embeddings plus sinusoidal positions, two
# pre-norm causal encoder layers (d_model 32), a final norm and the head.
# Written by tests/golden/gen_generate.py; do not edit.
seqc: 1
name: gen_gpt
dims: {B: 2, T: 4}
inputs:
  tokens: {dtype: i64, shape: [B, T]}
outputs: [head]
nodes:
  embed:  {op: embedding, input: tokens, num_embeddings: 50, embedding_dim: 32}
  pos:    {op: positional_encoding, input: embed, kind: sinusoidal}
  blocks: {op: transformer_encoder, input: pos, num_layers: 2, nhead: 4, dim_feedforward: 64,
           activation: gelu, norm_first: true, causal: true, norm: true}
  head:   {op: linear, input: blocks, out_features: 50}
"""

LSTM = """\
# An LSTM language model: embedding, two LSTM layers, a linear head.
# Written by tests/golden/gen_generate.py; do not edit.
seqc: 1
name: gen_lstm
dims: {B: 2, T: 5}
inputs:
  tokens: {dtype: i32, shape: [B, T]}
outputs: [head, rnn.h_n]
nodes:
  embed: {op: embedding, input: tokens, num_embeddings: 48, embedding_dim: 16}
  rnn:   {op: lstm, input: embed, hidden_size: 32, num_layers: 2}
  head:  {op: linear, input: rnn, out_features: 48}
"""

SEQ2SEQ = """\
# A seq2seq Transformer (nn.Transformer, d_model 32, 2 + 2 layers) translating
# src [B, S] into tgt [B, T]; the decoder's self-attention is causal.
# Written by tests/golden/gen_generate.py; do not edit.
seqc: 1
name: gen_seq2seq
dims: {B: 2, S: 6, T: 3}
inputs:
  src: {dtype: i32, shape: [B, S]}
  tgt: {dtype: i32, shape: [B, T]}
outputs: [generator]
nodes:
  src_embed:   {op: embedding, input: src, num_embeddings: 30, embedding_dim: 32}
  src_pos:     {op: positional_encoding, input: src_embed}
  tgt_embed:   {op: embedding, input: tgt, num_embeddings: 40, embedding_dim: 32}
  tgt_pos:     {op: positional_encoding, input: tgt_embed}
  transformer: {op: transformer, src: src_pos, tgt: tgt_pos, nhead: 4, num_encoder_layers: 2,
                num_decoder_layers: 2, dim_feedforward: 64, causal: true}
  generator:   {op: linear, input: transformer, out_features: 40}
"""

# name, model, token input, {input: (dtype, shape, high)}, new tokens, eos step
# (eos: row 0's token at that step, found by a first pass without one, so that
# row 0 finishes early and keeps producing it while row 1 goes on)
CASES = [
    ("gpt", GPT, "tokens", {"tokens": (torch.int64, [2, 4], 50)}, 6, None),
    ("gpt_eos", GPT, "tokens", {"tokens": (torch.int64, [2, 4], 50)}, 7, 2),
    ("lstm", LSTM, "tokens", {"tokens": (torch.int32, [2, 5], 48)}, 6, None),
    ("seq2seq", SEQ2SEQ, "tgt",
     {"src": (torch.int32, [2, 6], 30), "tgt": (torch.int32, [2, 3], 40)}, 6, None),
]


def decode(model, token_input, inputs, n_new, eos, seed):
    """Greedy decoding, the whole sequence again at each step; returns
    (tokens i64 [B, P+n], logits [B, n, V], state_dict, smallest margin)."""
    g = torch.Generator().manual_seed(seed)
    # the reference re-initializes linear, norm and embedding weights from g,
    # but nn.LSTM keeps PyTorch's own init, drawn from the global generator
    torch.manual_seed(seed)
    ref = gen_recurrent.Reference(model, g)
    tokens = inputs[token_input].to(torch.int64)
    B = tokens.shape[0]
    finished = torch.zeros(B, dtype=torch.bool)
    steps, margin = [], float("inf")
    with torch.no_grad():
        for _ in range(n_new):
            feed = dict(inputs)
            feed[token_input] = tokens.to(inputs[token_input].dtype)
            logits = ref.run(feed)[model["outputs"][0]][:, -1, :]
            steps.append(logits.clone())
            top = torch.topk(logits, 2, dim=-1).values
            gap = top[:, 0] - top[:, 1]
            if (~finished).any():
                margin = min(margin, gap[~finished].min().item())
            # argmax, ties to the lowest id (torch.argmax's tie rule is unspecified)
            best = (logits == logits.max(dim=-1, keepdim=True).values).float().argmax(dim=-1)
            chosen = torch.where(finished, torch.full_like(best, eos if eos is not None else 0),
                                 best)
            tokens = torch.cat([tokens, chosen[:, None]], dim=1)
            if eos is not None:
                finished |= chosen == eos
                if finished.all():
                    break
    return tokens, torch.stack(steps, dim=1), ref.mods.state_dict(), margin


def make_case(name, text, token_input, specs, n_new, eos_step):
    model = yaml.safe_load(text)
    for attempt in range(50):
        seed = zlib.crc32(name.encode()) + attempt
        g = torch.Generator().manual_seed(seed + 1000003)
        inputs = {}
        for n, (dtype, shape, high) in specs.items():
            inputs[n] = torch.randint(0, high, shape, generator=g, dtype=torch.int64).to(dtype)
        eos = None
        if eos_step is not None:
            toks, _, _, _ = decode(model, token_input, inputs, n_new, None, seed)
            eos = int(toks[0, inputs[token_input].shape[1] + eos_step])
            if (toks[1, inputs[token_input].shape[1]:] == eos).any():
                continue  # row 1 must go on: another seed
        tokens, logits, sd, margin = decode(model, token_input, inputs, n_new, eos, seed)
        if margin >= MARGIN:
            break
    else:
        raise SystemExit(f"{name}: no seed gives choices {MARGIN} apart")
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        f.write(text)
    gen.write_safetensors(os.path.join(d, "weights.safetensors"), sd)
    gen.write_safetensors(os.path.join(d, "input.safetensors"), inputs)
    gen.write_safetensors(os.path.join(d, "expected.safetensors"),
                          {"tokens": tokens.contiguous(), "logits": logits.contiguous()})
    args = f"--max-new-tokens {n_new}" + (f" --eos {eos}" if eos is not None else "")
    with open(os.path.join(d, "args"), "w") as f:
        f.write(args + "\n")
    print(f"{name}: seed {seed}, margin {margin:.3g}, {args}, "
          f"tokens {tokens.tolist()}")


def main():
    torch.set_num_threads(1)
    for case in CASES:
        make_case(*case)


if __name__ == "__main__":
    main()

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

The beam cases (NAME_beams, `--beams 3`) decode by beam search as Hugging
Face transformers' generate(num_beams=3, do_sample=False, length_penalty=1.0,
early_stopping=False) does (BeamSearchScorer of 4.4x, written out here:
beam_search and Hyps), again re-running the whole sequence of every beam
at each step, the scores in float64 from float32 logits. Their expected
tokens are each row's best hypothesis padded with eos after its own; their
logits are those its tokens were chosen from, 0 after its eos. Each such
case must differ from greedy decoding, and gpt_beams_eos must have a row
that ends before the last step.

Greedy decoding amplifies any difference in the logits, so each case checks
that every choice wins by a clear margin (MARGIN, far above SPEC 8's
tolerance) and tries the next seed when one does not: the goldens test seqc,
not a coin toss between two nearly equal logits. A beam search compares
sums of log-probabilities: every two scores it orders or compares must be
BEAM_MARGIN apart. tests/cli/generate.sh runs
the cases; it needs no Python. The T5 case (generate/t5_small) is written
by gen_generate_t5.py with this file's write_case and MARGIN.
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


BEAM_MARGIN = 1e-3  # the smallest gap allowed between any two scores a beam search compares


class Hyps:
    """One prompt row's finished hypotheses, as HF's BeamHypotheses
    (length_penalty 1, early_stopping False): at most n, each scored by its
    sum of log-probabilities over its number of new tokens."""

    def __init__(self, n):
        self.n, self.items, self.gaps = n, [], []  # items: (score, tokens, logits)

    def worst(self):
        return min(h[0] for h in self.items)

    def add(self, total, tokens, logits):
        score = total / len(tokens)
        if len(self.items) == self.n:
            self.gaps.append(abs(score - self.worst()))
            if not score > self.worst():
                return
            # the worst leaves (the first added among equal ones, as HF)
            del self.items[min(range(self.n), key=lambda i: (self.items[i][0], i))]
        self.items.append((score, tokens, logits))

    def done(self, best_total, length):
        if len(self.items) < self.n:
            return False
        self.gaps.append(abs(self.worst() - best_total / length))
        return self.worst() >= best_total / length


def beam_search(model, token_input, inputs, n_new, eos, nb, seed):
    """HF's generate(num_beams=nb, do_sample=False, length_penalty=1.0,
    early_stopping=False), the whole sequence again at each step, the
    scores in float64. Returns (tokens i64 [B, P+n] of each row's best
    hypothesis, eos-padded; its logits [B, n, V], 0 after its eos; the
    smallest gap between two compared scores; the best lengths)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ref = gen_recurrent.Reference(model, g)
    prompt = inputs[token_input].to(torch.int64)
    B, P = prompt.shape
    # each row repeated nb times, as HF expands input_ids (and the encoder's inputs)
    feed_static = {k: v.repeat_interleave(nb, dim=0) for k, v in inputs.items()
                   if k != token_input}
    seqs = prompt.repeat_interleave(nb, dim=0)
    scores = torch.zeros(B, nb, dtype=torch.float64)
    scores[:, 1:] = -1e9  # only beam 0 takes part at the first step
    history = None  # [B*nb, steps, V]: the logits each live beam's tokens came from
    hyps = [Hyps(nb) for _ in range(B)]
    done = [False] * B
    margin = float("inf")
    steps = 0
    with torch.no_grad():
        for k in range(n_new):
            feed = dict(feed_static)
            feed[token_input] = seqs.to(inputs[token_input].dtype)
            logits = ref.run(feed)[model["outputs"][0]][:, -1, :]
            V = logits.shape[-1]
            logp = torch.log_softmax(logits.double(), dim=-1)
            cand = (logp.view(B, nb, V) + scores[:, :, None]).view(B, nb * V)
            new_seqs, new_hist, new_scores = [], [], []
            for b in range(B):
                if done[b]:  # idle: the beams as they were, fed eos
                    for i in range(nb):
                        r = b * nb + i
                        new_seqs.append(torch.cat([seqs[r], torch.tensor([eos])]))
                        new_hist.append(torch.cat([history[r], logits[r][None]])
                                        if history is not None else logits[r][None])
                        new_scores.append(scores[b, i].item())
                    continue
                # the best 2nb, ties: the lower flat index (beam, then token)
                order = sorted(range(nb * V), key=lambda j: (-cand[b, j].item(), j))
                top = order[:2 * nb]
                vals = [cand[b, j].item() for j in order[:2 * nb + 1]]
                margin = min(margin, min(x - y for x, y in zip(vals, vals[1:])))
                kept = 0
                for rank, j in enumerate(top):
                    beam, tok = divmod(j, V)
                    r = b * nb + beam
                    hist = (torch.cat([history[r], logits[r][None]]) if history is not None
                            else logits[r][None])
                    if eos is not None and tok == eos:
                        if rank < nb:
                            hyps[b].add(cand[b, j].item(),
                                        torch.cat([seqs[r][P:], torch.tensor([tok])]), hist)
                        continue
                    new_seqs.append(torch.cat([seqs[r], torch.tensor([tok])]))
                    new_hist.append(hist)
                    new_scores.append(cand[b, j].item())
                    kept += 1
                    if kept == nb:
                        break
                assert kept == nb
                done[b] = hyps[b].done(cand[b, top[0]].item(), k + 1)
            seqs = torch.stack(new_seqs)
            history = torch.stack(new_hist)
            scores = torch.tensor(new_scores, dtype=torch.float64).view(B, nb)
            steps = k + 1
            if all(done):
                break
    out_tokens, out_logits, lengths = [], [], []
    for b in range(B):
        if not done[b]:  # the live beams compete, by their sum over their length
            for i in range(nb):
                r = b * nb + i
                hyps[b].add(scores[b, i].item(), seqs[r][P:], history[r])
        for h in hyps[b].gaps:
            margin = min(margin, h)
        ranked = sorted(hyps[b].items, key=lambda h: -h[0])
        if len(ranked) > 1:
            margin = min(margin, ranked[0][0] - ranked[1][0])
        _, toks, hist = ranked[0]
        n = len(toks)
        lengths.append(n)
        pad = torch.full((steps - n,), eos if eos is not None else 0, dtype=torch.int64)
        out_tokens.append(torch.cat([prompt[b], toks, pad]))
        out_logits.append(torch.cat([hist, torch.zeros(steps - n, hist.shape[1])]))
    return torch.stack(out_tokens), torch.stack(out_logits), ref.mods.state_dict(), margin, lengths


# beam cases: name, model, token input, inputs, new tokens, beams, eos (None, or
# "early": an eos that ends row 0's best hypothesis before the last step)
BEAM_CASES = [
    ("gpt_beams", GPT, "tokens", {"tokens": (torch.int64, [2, 4], 50)}, 6, 3, None),
    ("gpt_beams_eos", GPT, "tokens", {"tokens": (torch.int64, [2, 4], 50)}, 7, 3, "early"),
    ("lstm_beams", LSTM, "tokens", {"tokens": (torch.int32, [2, 5], 48)}, 6, 3, None),
    ("seq2seq_beams", SEQ2SEQ, "tgt",
     {"src": (torch.int32, [2, 6], 30), "tgt": (torch.int32, [2, 3], 40)}, 6, 3, None),
]


def make_beam_case(name, text, token_input, specs, n_new, nb, eos_rule):
    model = yaml.safe_load(text)
    for attempt in range(200):
        seed = zlib.crc32(name.encode()) + attempt
        g = torch.Generator().manual_seed(seed + 1000003)
        inputs = {}
        for n, (dtype, shape, high) in specs.items():
            inputs[n] = torch.randint(0, high, shape, generator=g, dtype=torch.int64).to(dtype)
        eos = None
        if eos_rule == "early":
            # row 0's best without an eos, its third token: with it as eos, row
            # 0 should end there
            toks, _, _, _, _ = beam_search(model, token_input, inputs, n_new, None, nb, seed)
            eos = int(toks[0, inputs[token_input].shape[1] + 2])
        tokens, logits, sd, margin, lengths = beam_search(model, token_input, inputs, n_new,
                                                          eos, nb, seed)
        if eos is not None and not min(lengths) < n_new:
            continue  # no row ends early: another seed
        greedy, _, _, _ = decode(model, token_input, inputs, n_new, eos, seed)
        if greedy.shape == tokens.shape and bool((greedy == tokens).all()):
            continue  # the search must find what greedy does not: another seed
        if margin >= BEAM_MARGIN:
            break
    else:
        raise SystemExit(f"{name}: no seed gives scores {BEAM_MARGIN} apart")
    write_case(name, text, sd, inputs, tokens, logits,
               f"--max-new-tokens {n_new} --beams {nb}" + (f" --eos {eos}" if eos is not None
                                                           else ""))
    print(f"{name}: seed {seed}, margin {margin:.3g}, lengths {lengths}, "
          f"tokens {tokens.tolist()}")


def write_case(name, text, sd, inputs, tokens, logits, args):
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
    with open(os.path.join(d, "args"), "w") as f:
        f.write(args + "\n")


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
    only = sys.argv[1:]  # case names, or all
    for case in CASES:
        if not only or case[0] in only:
            make_case(*case)
    for case in BEAM_CASES:
        if not only or case[0] in only:
            make_beam_case(*case)


if __name__ == "__main__":
    main()

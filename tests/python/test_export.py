#!/usr/bin/python3
"""test_export.py: seqc_torch exports 12 PyTorch modules, one per model family
in models/ plus a user-style module, and seqc runs each within SPEC 8 of
PyTorch; modules and functions seqc lacks raise SeqcExportError naming them.

    SEQC=build/cli/seqc PYTHONPATH=python /usr/bin/python3 tests/python/test_export.py

Dims are small so that the whole file runs in well under a minute."""
import math
import os
import sys
import tempfile
import unittest

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_packed_sequence

import seqc_torch
from seqc_torch import SeqcExportError

SEQC = os.environ.get("SEQC") or (sys.argv.pop(1) if len(sys.argv) > 1 else None)


def sinusoids(n, d):
    """The usual PyTorch tutorial table (float32), which SPEC 7's matches."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class PositionalEncoding(nn.Module):
    """x + pe[:T] from a buffer, as PyTorch's tutorials write it."""

    def __init__(self, d, max_len=64):
        super().__init__()
        self.register_buffer("pe", sinusoids(max_len, d)[None])

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]


def trained_looking(module, seed):
    """Weights of the size trained ones have: norms away from 1 and 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return module


# ------------------------------------------------------------- the 12 modules

class MLP(nn.Module):  # models/mlp.yaml
    def __init__(self):
        super().__init__()
        self.fc1, self.norm = nn.Linear(16, 32), nn.LayerNorm(32)
        self.fc2, self.logits = nn.Linear(32, 16), nn.Linear(16, 5)

    def forward(self, x):
        return self.logits(x + self.fc2(F.gelu(self.norm(self.fc1(x)))))


class BiLSTMStacked(nn.Module):  # models/bilstm_stacked.yaml
    def __init__(self):
        super().__init__()
        self.enc = nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, x, h0, c0):
        out, (h_n, c_n) = self.enc(x, (h0, c0))
        return out, h_n, c_n


class GRUModel(nn.Module):  # models/gru.yaml
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True)

    def forward(self, x):
        return self.gru(x)


class BiRNN(nn.Module):  # models/birnn_stacked.yaml, time-major inside
    def __init__(self):
        super().__init__()
        self.enc = nn.RNN(8, 12, num_layers=2, bidirectional=True, nonlinearity="relu")
        self.logits = nn.Linear(24, 5)

    def forward(self, x):
        out, h_n = self.enc(x.transpose(0, 1))
        return self.logits(out.transpose(0, 1)), h_n


class LSTMClassifier(nn.Module):  # models/lstm_classifier.yaml: rows of their own lengths
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.lstm = nn.LSTM(16, 24, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths,
                                                   batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        return torch.softmax(self.head(h_n[-1]), dim=-1), out


class TokenClassifier(nn.Module):  # models/token_classifier.yaml
    def __init__(self):
        super().__init__()
        self.embed, self.pos = nn.Embedding(100, 32), PositionalEncoding(32)
        self.hidden, self.out = nn.Linear(32, 48), nn.Linear(48, 9)

    def forward(self, tokens):
        return F.softmax(self.out(torch.relu(self.hidden(self.pos(self.embed(tokens))))), -1)


class BertEncoder(nn.Module):  # models/bert_encoder.yaml
    def __init__(self):
        super().__init__()
        self.embed, self.pos = nn.Embedding(100, 32), PositionalEncoding(32)
        self.emb_norm = nn.LayerNorm(32, eps=1e-12)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32, eps=1e-12),
                                             enable_nested_tensor=False)
        self.cls = nn.Linear(32, 2)

    def forward(self, tokens, padding_mask):
        h = self.encoder(self.emb_norm(self.pos(self.embed(tokens))),
                         src_key_padding_mask=padding_mask)
        return self.cls(h[:, 0]), h


class GPTDecoder(nn.Module):  # models/gpt_decoder.yaml
    def __init__(self):
        super().__init__()
        self.embed, self.pos = nn.Embedding(100, 32), PositionalEncoding(32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, activation="gelu", norm_first=True,
                                           batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32))
        self.head = nn.Linear(32, 100, bias=False)

    def forward(self, tokens):
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.size(1))
        return self.head(self.blocks(self.pos(self.embed(tokens)), mask=mask))


class Seq2Seq(nn.Module):  # models/seq2seq_transformer.yaml
    def __init__(self):
        super().__init__()
        self.src_embed, self.tgt_embed = nn.Embedding(60, 32), nn.Embedding(70, 32)
        self.pos = PositionalEncoding(32)
        self.transformer = nn.Transformer(32, 4, 2, 2, 64, batch_first=True)
        self.generator = nn.Linear(32, 70)

    def forward(self, src, tgt):
        causal = torch.triu(torch.full((tgt.size(1), tgt.size(1)), float("-inf")), 1)
        out = self.transformer(self.pos(self.src_embed(src)), self.pos(self.tgt_embed(tgt)),
                               tgt_mask=causal)
        return self.generator(out)


class ConvClassifier(nn.Module):  # models/conv1d_classifier.yaml
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(10, 16, 5, padding=2)
        self.conv2 = nn.Conv1d(16, 16, 3, padding="same")
        self.down = nn.Conv1d(16, 24, 4, stride=2, padding=1)
        self.fc = nn.Linear(24, 6)

    def forward(self, x):  # x [B, T, C], channels last
        h = x.transpose(1, 2)
        h = F.relu(self.conv2(F.relu(self.conv1(h))))
        h = F.relu(self.down(h))
        return self.fc(h.mean(dim=2))


class LocalAttention(nn.Module):  # models/local_attention.yaml
    def __init__(self, window=3):
        super().__init__()
        self.window = window
        self.linear_in, self.pos = nn.Linear(6, 32), PositionalEncoding(32)
        layer = nn.TransformerEncoderLayer(32, 4, 48, norm_first=True, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(32))
        self.y = nn.Linear(32, 4)

    def forward(self, x):
        i = torch.arange(x.size(1))
        far = (i[:, None] - i[None, :]).abs() > self.window
        return self.y(self.encoder(self.pos(self.linear_in(x)), mask=far))


class Block(nn.Module):
    """A user's pre-norm block with a gated feed-forward."""

    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.ff = nn.ModuleDict({"up": nn.Linear(d, 2 * d), "down": nn.Linear(d, d)})
        self.scale = nn.Parameter(0.5 + 0.1 * torch.randn(d))  # LayerScale

    def forward(self, x, mask):
        h = self.norm(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        a, gate = self.ff["up"](x).chunk(2, dim=-1)
        return x + self.scale * self.ff["down"](a * torch.sigmoid(gate)) * 0.5


class UserLM(nn.Module):
    """Nested submodules, a ModuleList, the head tied to the embedding, a
    learned position table, and arithmetic in forward."""

    def __init__(self, vocab=80, d=32):
        super().__init__()
        self.d = d
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.1 * torch.randn(1, 24, d))
        self.body = nn.ModuleList([Block(d) for _ in range(2)])
        self.final = nn.Sequential(nn.LayerNorm(d), nn.Dropout(0.1))
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens) * math.sqrt(self.d) + self.pos[:, :t]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        for block in self.body:
            x = block(x, mask)
        x = self.final(x)
        return self.head(x) / 2.0 - 1.0


def tokens(gen, b, t, n):
    return torch.randint(0, n, (b, t), generator=gen)


def cases():
    torch.manual_seed(0)  # the modules' initial weights: the same on every run
    g = torch.Generator().manual_seed(7)
    pad = torch.zeros(3, 9, dtype=torch.bool)
    pad[1, 6:] = True
    pad[2, 3:] = True
    return {
        "mlp": (MLP(), (torch.randn(2, 7, 16, generator=g),)),
        "bilstm_stacked": (BiLSTMStacked(), (torch.randn(3, 6, 8, generator=g),
                                             torch.randn(4, 3, 12, generator=g),
                                             torch.randn(4, 3, 12, generator=g))),
        "gru": (GRUModel(), (torch.randn(2, 9, 8, generator=g),)),
        "birnn": (BiRNN(), (torch.randn(2, 5, 8, generator=g),)),
        "lstm_classifier": (LSTMClassifier(), (tokens(g, 3, 8, 50), torch.tensor([8, 3, 5]))),
        "token_classifier": (TokenClassifier(), (tokens(g, 2, 11, 100),)),
        "bert_encoder": (BertEncoder(), (tokens(g, 3, 9, 100), pad)),
        "gpt_decoder": (GPTDecoder(), (tokens(g, 2, 10, 100),)),
        "seq2seq": (Seq2Seq(), (tokens(g, 2, 7, 60), tokens(g, 2, 5, 70))),
        "conv1d": (ConvClassifier(), (torch.randn(2, 20, 10, generator=g),)),
        "local_attention": (LocalAttention(), (torch.randn(1, 16, 6, generator=g),)),
        "user_lm": (UserLM(), (tokens(g, 2, 6, 80),)),
    }


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not SEQC:
            raise unittest.SkipTest("no seqc binary: set SEQC")
        cls.tmp = tempfile.TemporaryDirectory(prefix="test_export_")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def export(self, name, module, inputs, **kw):
        y = os.path.join(self.tmp.name, name + ".yaml")
        w = os.path.join(self.tmp.name, name + ".safetensors")
        diff = seqc_torch.export(module, inputs, y, w, seqc=SEQC, quiet=True, **kw)
        with open(y) as f:
            return diff, f.read(), seqc_torch.read_safetensors(w)

    def test_families(self):
        for k, (name, (module, inputs)) in enumerate(cases().items()):
            with self.subTest(model=name):
                trained_looking(module, k)
                diff, text, weights = self.export(name, module, inputs)
                self.assertIsNotNone(diff)
                # SPEC 8's tolerance on outputs of order 1: the check's
                # largest difference must be well inside 1e-4 + 1e-4|want|
                self.assertLess(diff, 1e-4, f"{name}: seqc differs from PyTorch by {diff}\n{text}")
                setattr(self, "text_" + name, (text, weights))
                self.check_structure(name, text, weights)

    def check_structure(self, name, text, weights):
        """What the YAML says for each family (the numbers are checked above)."""
        if name == "mlp":
            self.assertIn("shape: [B, T, 16]", text)
        if name == "bilstm_stacked":
            self.assertIn("h0: {dtype: f32, shape: [4, B, 12]}", text)
            self.assertIn("outputs: [enc, enc.h_n, enc.c_n]", text)
            self.assertIn("enc.weight_ih_l1_reverse", weights)
        if name == "lstm_classifier":
            self.assertIn("lengths: lengths}", text)
            self.assertIn("lengths: {dtype: i64, shape: [B]}", text)
        if name == "birnn":
            self.assertIn("nonlinearity: relu", text)
            self.assertNotIn("op: transpose", text)  # the user's transposes cancel ours
        if name in ("token_classifier", "bert_encoder", "gpt_decoder", "seq2seq",
                    "local_attention"):
            self.assertIn("op: positional_encoding", text)
        if name == "gpt_decoder":
            self.assertIn("causal: true", text)
            self.assertIn("norm_first: true", text)
        if name == "bert_encoder":
            self.assertIn("src_key_padding_mask: padding_mask", text)
            self.assertIn("padding_mask: {dtype: i64, shape: [B, T]}", text)
        if name == "seq2seq":
            # T is the target's length (the output runs along it), S the source's
            self.assertIn("dims: {B: 2, S: 7, T: 5}", text)
            self.assertIn("src: {dtype: i64, shape: [B, S]}", text)
            self.assertIn("op: transformer,", text)
            self.assertIn("transformer.decoder.norm.weight", weights)
        if name == "local_attention":
            self.assertIn("window: 3", text)
            self.assertNotIn("causal", text)
        if name == "conv1d":
            self.assertIn("stride: 2", text)
            self.assertIn("padding: 1", text)
            self.assertNotIn("op: transpose", text)  # [B, C, T] layout changes cancel
        if name == "user_lm":
            self.assertIn("weight: embed.weight", text)
            self.assertNotIn("head.weight", weights)  # one copy of the tied weight
            self.assertEqual(text.count("op: multihead_attention"), 2)
            self.assertIn("op: positions", text)
            # scale * h: a linear whose weight is diag(scale), one per block
            diagonal = [n for n, w in weights.items() if w.dim() == 2
                        and w.shape[0] == w.shape[1] and not torch.equal(w, torch.eye(len(w)))
                        and torch.equal(w, torch.diag(torch.diagonal(w)))]
            self.assertEqual(len(diagonal), 2, diagonal)
            self.assertEqual(list(weights["pos.weight"].shape), [24, 32])

    def test_batchnorm_is_refused(self):
        class WithBatchNorm(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                self.bn = nn.BatchNorm1d(8)

            def forward(self, x):
                return self.bn(self.fc(x).transpose(1, 2))

        with self.assertRaises(SeqcExportError) as e:
            self.export("bn", WithBatchNorm(), (torch.randn(2, 5, 8),))
        msg = str(e.exception)
        self.assertIn("module 'bn'", msg)
        self.assertIn("BatchNorm1d", msg)
        self.assertIn("test_export.py:", msg)  # the line of the call in forward

    def test_fft_is_refused(self):
        class WithFFT(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)

            def forward(self, x):
                return torch.fft.fft(self.fc(x)).real

        with self.assertRaises(SeqcExportError) as e:
            self.export("fft", WithFFT(), (torch.randn(2, 5, 8),))
        msg = str(e.exception)
        self.assertIn("fft", msg)
        self.assertIn("test_export.py:", msg)

    def test_arbitrary_mask_is_refused(self):
        class Strided(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

            def forward(self, x):
                i = torch.arange(x.size(1))
                mask = (i[:, None] - i[None, :]) % 2 == 1  # every other key
                return self.attn(x, x, x, attn_mask=mask)[0]

        with self.assertRaises(SeqcExportError) as e:
            self.export("strided", Strided(), (torch.randn(1, 6, 8),))
        self.assertIn("module 'attn'", str(e.exception))
        self.assertIn("neither a causal mask", str(e.exception))

    def test_fixed_length_stays_fixed(self):
        class Flatten(nn.Module):  # a linear layer over all of T: T cannot vary
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(5 * 4, 3)

            def forward(self, x):
                return self.fc(x.reshape(x.size(0), 20))

        diff, text, _ = self.export("flat", Flatten(), (torch.randn(2, 5, 4),))
        self.assertLess(diff, 1e-5)
        self.assertIn("shape: [B, 5, 4]", text)
        self.assertIn("shape: [B, 20]", text)
        self.assertIn("T is fixed", text)

    def test_command_line(self):
        import subprocess
        from seqc_torch.__main__ import main
        d = self.tmp.name
        module = trained_looking(MLP(), 3)
        torch.save(module, os.path.join(d, "mlp.pt"))
        seqc_torch.write_safetensors(os.path.join(d, "ex.safetensors"),
                                     {"x": torch.randn(2, 4, 16)})
        args = ["--input", os.path.join(d, "ex.safetensors"), "-o", os.path.join(d, "cli.yaml"),
                "-w", os.path.join(d, "cli.safetensors"), "--seqc", SEQC]
        self.assertEqual(main(["export", os.path.join(d, "mlp.pt")] + args), 0)
        with open(os.path.join(d, "cli.yaml")) as f:
            self.assertIn("logits: {op: linear, input: add, out_features: 5}", f.read())
        torch.save(module.state_dict(), os.path.join(d, "sd.pt"))
        self.assertEqual(main(["export", os.path.join(d, "sd.pt")] + args), 1)
        p = subprocess.run([sys.executable, "-m", "seqc_torch", "export", "--help"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--input EXAMPLE.safetensors", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

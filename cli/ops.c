/*
 * ops.c: `seqc ops`: every op a model file may use, with a line of what it
 * computes and the keys it accepts. The ops and their keys come from the
 * frontend's table (fe_op_at); the line from ops.def's semantics, cut at its
 * first "; ", unless the op is a layer that ops.def does not hold or whose
 * ops.def line speaks of the IR rather than of the YAML (the table below).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: seqc ops\n"
    "\n"
    "Lists every op a model file may use: its name, what it computes, and the\n"
    "keys a node of that op accepts besides `op`. docs/language.md describes\n"
    "each op's attributes, defaults, parameters and shapes.\n";

/* ops whose YAML meaning ops.def does not say in one line */
static const struct {
  const char *name;    /* op name */
  const char *summary; /* one line, in the model language's terms */
} summaries[] = {
    {"linear", "nn.Linear: input @ weight^T + bias"},
    {"embedding", "nn.Embedding: rows of weight [num_embeddings, embedding_dim] at integer indices"},
    {"layer_norm", "nn.LayerNorm over the last dim, with weight and bias"},
    {"rms_norm", "RMS norm over the last dim: x / sqrt(mean(x^2) + eps) * weight"},
    {"matmul", "batched a @ b over the last two dims, batch dims broadcast"},
    {"gelu", "x * Phi(x): exact (erf), or the tanh approximation with approximate: tanh"},
    {"dropout", "identity at inference"},
    {"slice", "x[start:end] along dim, Python style (negative counts from the end)"},
    {"transpose", "permutes the dims: output dim i is input dim dims[i]"},
    {"reshape", "the same elements, row-major, in shape (dim names, integers, one -1)"},
    {"positional_encoding", "x + sinusoidal positions: sin(pos / 10000^(2i/D)) at 2i, cos at 2i+1"},
    {"scan", "a custom recurrence: a body graph run once per step along T"},
    {"rnn", "nn.RNN (tanh or relu), batch-first; value y, extra output .h_n"},
    {"lstm", "nn.LSTM (gates i, f, g, o; proj_size, peephole); value y, extra outputs .h_n .c_n"},
    {"gru", "nn.GRU (gates r, z, n), batch-first; value y, extra output .h_n"},
    {"multihead_attention", "nn.MultiheadAttention (batch-first); causal and window masks"},
    {"transformer_encoder_layer", "nn.TransformerEncoderLayer (batch-first)"},
    {"transformer_decoder_layer", "nn.TransformerDecoderLayer (batch-first); memory: the encoder output"},
    {"transformer_encoder", "nn.TransformerEncoder: num_layers encoder layers, optional final norm"},
    {"transformer_decoder", "nn.TransformerDecoder: num_layers decoder layers, optional final norm"},
    {"transformer", "nn.Transformer: encoder on src, decoder on tgt; value: the decoder output"},
    {"conv1d", "nn.Conv1d on batch-first [B, T, C] -> [B, Tout, out_channels]"},
};

/* the op's line: from the table above, else ops.def up to its first "; " */
static void print_summary(const char *name) {
  for (size_t i = 0; i < sizeof summaries / sizeof summaries[0]; i++)
    if (!strcmp(summaries[i].name, name)) {
      puts(summaries[i].summary);
      return;
    }
  for (int k = 0; k < IR_OP_COUNT; k++)
    if (!strcmp(ir_ops[k].name, name)) {
      const char *s = ir_ops[k].semantics, *end = strstr(s, "; ");
      printf("%.*s\n", end ? (int)(end - s) : (int)strlen(s), s);
      return;
    }
  puts("(see docs/language.md)");
}

int cmd_ops(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help, stdout);
      return CLI_OK;
    }
    return cli_usage_error("ops", "unexpected argument '%s'", argv[i]);
  }
  int width = 0;
  for (int i = 0; fe_op_at(i); i++) {
    int n = (int)strlen(fe_op_at(i)->name);
    if (n > width) width = n;
  }
  printf("ops a model file may use (docs/language.md describes each):\n\n");
  for (int i = 0; fe_op_at(i); i++) {
    const fe_op *op = fe_op_at(i);
    printf("  %-*s  ", width, op->name);
    print_summary(op->name);
    printf("  %-*s  keys:", width, "");
    for (const char *k = op->keys; *k;) { /* words up to their ':kind' (ops.def's attrs) */
      size_t n = strcspn(k, " "), name = strcspn(k, " :");
      if (n) printf(" %.*s", (int)(name < n ? name : n), k);
      k += n;
      while (*k == ' ') k++;
    }
    putchar('\n');
  }
  return CLI_OK;
}

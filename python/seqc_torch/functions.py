"""Functions and Tensor methods to seqc's primitive ops: the lookup tables
(the mappers are in arithmetic.py and shapes.py). Each mapper takes
(converter, fx node) and returns the converted result."""
import operator

import torch
import torch.nn.functional as F
import torch.nn.utils.rnn as rnn_utils

from .arithmetic import (binary, f_embedding, f_layer_norm, f_linear, matmul, mean, neg,
                         softmax, unary)
from .shapes import (cat, chunk, getitem, pack_padded, pad_packed, permute, reshape, same,
                     tensor_attribute, transpose)

FUNCTIONS = {
    operator.add: binary("add"), torch.add: binary("add"),
    operator.sub: binary("sub"), torch.sub: binary("sub"), torch.subtract: binary("sub"),
    torch.rsub: binary("sub", swap=True),
    operator.mul: binary("mul"), torch.mul: binary("mul"), torch.multiply: binary("mul"),
    operator.truediv: binary("div"), torch.div: binary("div"), torch.true_divide: binary("div"),
    operator.neg: neg, torch.neg: neg,
    operator.matmul: matmul, torch.matmul: matmul, torch.bmm: matmul,
    F.linear: f_linear, F.embedding: f_embedding, F.layer_norm: f_layer_norm,
    torch.cat: cat, torch.concat: cat,
    torch.transpose: transpose, torch.permute: permute,
    torch.reshape: reshape, torch.flatten: reshape, torch.unsqueeze: reshape,
    torch.squeeze: reshape,
    torch.mean: mean,
    F.softmax: softmax, torch.softmax: softmax,
    F.relu: unary("relu"), torch.relu: unary("relu"), F.gelu: unary("gelu"),
    torch.tanh: unary("tanh"), F.tanh: unary("tanh"),
    torch.sigmoid: unary("sigmoid"), F.sigmoid: unary("sigmoid"),
    F.silu: unary("silu"), F.softplus: unary("softplus"), torch.exp: unary("exp"),
    F.dropout: same, torch.clone: same, torch.chunk: chunk, torch.split: chunk,
    operator.getitem: getitem, getattr: tensor_attribute,
    rnn_utils.pack_padded_sequence: pack_padded, rnn_utils.pad_packed_sequence: pad_packed,
}

METHODS = {
    "add": binary("add"), "sub": binary("sub"), "mul": binary("mul"), "div": binary("div"),
    "neg": neg, "matmul": matmul, "bmm": matmul,
    "transpose": transpose, "t": transpose, "permute": permute,
    "view": reshape, "reshape": reshape, "flatten": reshape, "unsqueeze": reshape,
    "squeeze": reshape, "view_as": reshape, "reshape_as": reshape,
    "contiguous": same, "clone": same, "detach": same, "float": same, "long": same,
    "int": same, "bool": same, "to": same, "type": same,
    "mean": mean, "softmax": softmax,
    "relu": unary("relu"), "tanh": unary("tanh"), "sigmoid": unary("sigmoid"),
    "exp": unary("exp"), "chunk": chunk, "split": chunk,
}

"""The Transformer language model of pytorch/examples word_language_model/model.py.

This is the version the paper used (their src/model/transformer.py, and the example
before it became an nn.Transformer subclass): an nn.TransformerEncoder between an
embedding and a linear decoder, no weight tying (the example ties only its RNN model).
torch has no such ready-made model, hence the copy.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# The paper's configuration (authors' build_nlp_model and argparse defaults); ntoken is the vocabulary.
PAPER_CONFIG = {"ninp": 128, "nhead": 4, "nhid": 128, "nlayers": 12, "dropout": 0.0}


class PositionalEncoding(nn.Module):
    """Sinusoidal position encodings added to [seq, batch, d_model] inputs, then dropout."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0).transpose(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[: x.size(0), :])


class TransformerModel(nn.Module):
    """Token ids [seq, batch] -> log-probabilities [seq, batch, ntoken], causally masked.

    Dropout layers are plain nn.Dropout/nn.TransformerEncoderLayer ones, which draw from
    torch's global RNG only, so seeding it per step fixes every mask.
    """

    def __init__(self, ntoken: int, ninp: int, nhead: int, nhid: int, nlayers: int, dropout: float = 0.5):
        super().__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        # Nested tensors only serve padding masks, which this model never passes;
        # turning them off silences torch's warning without changing any result.
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    @staticmethod
    def _generate_square_subsequent_mask(sz: int) -> torch.Tensor:
        mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
        return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)

    def init_weights(self) -> None:
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src: torch.Tensor, has_mask: bool = True) -> torch.Tensor:
        x = self.encoder(src) * math.sqrt(self.ninp)
        if has_mask:
            # The example caches the mask by size only; also matching device and dtype
            # keeps it valid after .to() (attention wants a float mask of the input's dtype).
            m = self.src_mask
            if m is None or m.size(0) != len(src) or m.device != x.device or m.dtype != x.dtype:
                self.src_mask = self._generate_square_subsequent_mask(len(src)).to(x.device, x.dtype)
        else:
            self.src_mask = None
        # Saying that the mask is causal is what torch would find by comparing it with a causal mask
        # on the host (a device sync every step); the layers get the same is_causal either way.
        output = self.transformer_encoder(self.pos_encoder(x), self.src_mask, is_causal=has_mask)
        return F.log_softmax(self.decoder(output), dim=-1)

"""Built-in transformer references, made of ``torch.nn`` layers only (nothing is downloaded).

``bert_base_like`` is an encoder shaped like BERT-base and ``gpt2_small_like`` a causal decoder shaped like
GPT-2 small: the same widths, depths, heads and vocabularies, so their layers cost what those models' layers
cost. They are shaped like, not the trained models: random weights, no tokenizer, no pretrained checkpoint.
Both take token ids ``(N, T)`` (``torch.long``) and a sequence length ``T`` (``name@seq=512`` in any model
name argument; 128 by default).

Attention is ``nn.MultiheadAttention`` (batch first, ``need_weights=False``): one layer call per block, as in
torchvision's vision transformers.
"""

from __future__ import annotations

import torch
from torch import nn

#: default sequence length (tokens) of the built-in transformers
DEFAULT_SEQ_LEN = 128

BERT_VOCAB = 30522
GPT2_VOCAB = 50257


class _FeedForward(nn.Module):
    """Linear(width -> ffn), GELU, Linear(ffn -> width), dropout (an identity in eval mode)."""

    def __init__(self, width: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, ffn)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(ffn, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.act(self.fc1(x))))


class EncoderBlock(nn.Module):
    """A post-norm encoder block (BERT, ``nn.TransformerEncoderLayer`` with ``norm_first=False``)."""

    def __init__(self, width: int, heads: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(width, eps=1e-12)
        self.ffn = _FeedForward(width, ffn, dropout)
        self.norm2 = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attn(x, x, x, need_weights=False)
        x = self.norm1(x + self.dropout(attended))
        return self.norm2(x + self.ffn(x))


class DecoderBlock(nn.Module):
    """A pre-norm causal decoder block (GPT-2): ``x + attn(ln(x))``, ``x + mlp(ln(x))``."""

    def __init__(self, width: int, heads: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = _FeedForward(width, ffn, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        attended, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=True)
        x = x + self.dropout(attended)
        return x + self.mlp(self.ln2(x))


class _TokenModel(nn.Module):
    """Token ids ``(N, seq_len)`` in: a token embedding and a learned position table of ``positions``
    entries (at least ``seq_len``), shared by the two reference models."""

    input_dtype = "int64"

    def __init__(self, seq_len: int, width: int, vocab_size: int, positions: int) -> None:
        super().__init__()
        seq_len = int(seq_len)
        self.input_shape = (seq_len,)
        self.vocab_size = int(vocab_size)
        self.tokens = nn.Embedding(vocab_size, width)
        self.positions = nn.Embedding(max(positions, seq_len), width)
        self.register_buffer("position_ids", torch.arange(seq_len).unsqueeze(0), persistent=False)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Token plus position embeddings of ``ids``, ``(N, T, width)``."""
        return self.tokens(ids) + self.positions(self.position_ids[:, : ids.shape[1]])


class BertBaseLike(_TokenModel):
    """An encoder shaped like BERT-base: token + position embeddings, LayerNorm, ``layers`` post-norm blocks.

    Shaped like, not the trained model; random weights. Input: token ids ``(N, seq_len)``; output: hidden
    states ``(N, seq_len, width)`` (no pooler, no task head). The position table holds
    ``max(512, seq_len)`` entries (BERT-base has 512; longer sequences are allowed for sweeps).
    """

    def __init__(
        self,
        seq_len: int = DEFAULT_SEQ_LEN,
        *,
        layers: int = 12,
        width: int = 768,
        heads: int = 12,
        ffn: int = 3072,
        vocab_size: int = BERT_VOCAB,
    ) -> None:
        super().__init__(seq_len, width, vocab_size, positions=512)
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, ffn) for _ in range(layers))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.norm(self.embed(ids)))
        for block in self.blocks:
            x = block(x)
        return x


class Gpt2SmallLike(_TokenModel):
    """A causal decoder shaped like GPT-2 small: token + position embeddings, ``layers`` pre-norm blocks with
    a causal mask, a final LayerNorm and an LM head tied to the token embedding.

    Shaped like, not the trained model; random weights. Input: token ids ``(N, seq_len)``; output: logits
    ``(N, seq_len, vocab_size)``. The position table holds ``max(1024, seq_len)`` entries.
    """

    def __init__(
        self,
        seq_len: int = DEFAULT_SEQ_LEN,
        *,
        layers: int = 12,
        width: int = 768,
        heads: int = 12,
        ffn: int = 3072,
        vocab_size: int = GPT2_VOCAB,
    ) -> None:
        super().__init__(seq_len, width, vocab_size, positions=1024)
        seq_len = int(seq_len)
        # True above the diagonal: position i attends to positions <= i only
        mask = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(1)
        self.register_buffer("causal_mask", mask, persistent=False)
        self.dropout = nn.Dropout(0.1)
        self.blocks = nn.ModuleList(DecoderBlock(width, heads, ffn) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width, eps=1e-5)
        self.lm_head = nn.Linear(width, vocab_size, bias=False)
        self.lm_head.weight = self.tokens.weight  # tied, as in GPT-2

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.dropout(self.embed(ids))
        mask = self.causal_mask[:t, :t]
        for block in self.blocks:
            x = block(x, mask)
        return self.lm_head(self.ln_f(x))


def bert_base_like(seq_len: int = DEFAULT_SEQ_LEN) -> BertBaseLike:
    """An encoder shaped like BERT-base (12 layers, width 768, 12 heads, FFN 3072, GELU, vocab 30522),
    for token ids ``(N, seq_len)``. Shaped like, not the trained model; random weights."""
    return BertBaseLike(seq_len)


def gpt2_small_like(seq_len: int = DEFAULT_SEQ_LEN) -> Gpt2SmallLike:
    """A causal decoder shaped like GPT-2 small (12 layers, width 768, 12 heads, FFN 3072, vocab 50257,
    tied LM head), for token ids ``(N, seq_len)``. Shaped like, not the trained model; random weights."""
    return Gpt2SmallLike(seq_len)

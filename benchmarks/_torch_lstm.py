"""The fast exact bidirectional LSTM a PyTorch user writes instead of packing.

The peer of :class:`fsnlu_jax.nn.BiLSTM` in the benchmarks (not part of the
package). ``nn.LSTM(bidirectional=True)`` on a padded batch runs the backward
direction from the padding, so its states differ from ours and from packing;
``pack_padded_sequence`` is exact but pays for the packing. Two unidirectional
``nn.LSTM``, the backward one fed each row reversed within its length (one
gather) and its output reversed back, are exact and cost two padded runs.
"""

from __future__ import annotations


def within_length_reversal(torch, lengths, length: int):
  """``[B, L]`` gather indices reversing each row's first ``lengths[b]`` positions
  (padding stays in place); the permutation is its own inverse."""
  t = torch.arange(length, device=lengths.device)[None, :]
  return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


def gather_time(torch, a, index):
  """``a [B, L, F]`` with its time axis permuted row by row by ``index [B, L]``."""
  return torch.gather(a, 1, index[..., None].expand(-1, -1, a.shape[-1]))


def reversed_bilstm(torch, fwd, bwd, x, index):
  """``x [B, L, D]`` -> ``[B, L, 2H]``: ``fwd`` on ``x``, ``bwd`` on each row
  reversed within its length (``index`` from :func:`within_length_reversal`),
  its output put back in time order. Positions past a row's length hold
  padding-driven values: mask them."""
  out_f, _ = fwd(x)
  out_b, _ = bwd(gather_time(torch, x, index))
  return torch.cat([out_f, gather_time(torch, out_b, index)], dim=-1)

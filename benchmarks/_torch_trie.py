"""A prefix trie as PyTorch tensors: the vectorised constraint a PyTorch user would write.

The peer of :func:`fsnlu_jax.decoding.build_trie` + ``trie_constraint`` in the
benchmarks (not part of the package). GENRE's nested-dict trie is walked in
Python once per beam per step; this one keeps every edge in sorted tensors on
the peer's device and handles all beams at once:

* edges sorted by ``key = parent * V + token``, with their ``child``; a
  transition is one ``torch.searchsorted`` of the keys;
* children of a state are a contiguous run of the sorted edges
  (``offsets[state]:offsets[state + 1]``): the allowed-token mask is one
  scatter over all beams' runs.

Built with NumPy from the utterances (token lists, EOS appended), without
Python objects per node: sort the rows lexicographically; at each depth a row
opens a new node where its prefix differs from the previous row's.
"""

from __future__ import annotations

import numpy as np


class TorchTrie:
  """Trie arrays on ``device``: root state 0, ``-1`` for a prefix not in the trie."""

  def __init__(self, torch, sequences, *, vocab_size: int, eos_id: int, device="cpu"):
    self.torch, self.vocab_size, self.device = torch, vocab_size, torch.device(device)
    rows = [list(s) + [eos_id] for s in sequences]
    width = max(map(len, rows))
    lengths = np.array([len(r) for r in rows])
    padded = np.full((len(rows), width), -1, np.int64)
    for i, r in enumerate(rows):
      padded[i, :len(r)] = r
    order = np.lexsort(padded.T[::-1])
    padded, lengths = padded[order], lengths[order]
    valid = np.arange(width)[None, :] < lengths[:, None]  # [U, W]
    new = np.ones_like(valid)
    # A row opens a node at depth d where its first d + 1 tokens differ from the row before.
    new[1:] = np.logical_or.accumulate(padded[1:] != padded[:-1], axis=1)
    new &= valid
    node = np.zeros(padded.shape, np.int64)  # the state each (row, depth) reaches
    next_id = 1
    for d in range(width):
      ids = next_id + np.cumsum(new[:, d]) - 1  # a repeated prefix keeps the previous row's id
      node[:, d] = np.where(valid[:, d], ids, -1)
      next_id += int(new[:, d].sum())
    parent = np.concatenate([np.zeros((len(rows), 1), np.int64), node[:, :-1]], axis=1)
    keys = (parent * vocab_size + padded)[new]
    children = node[new]
    sort = np.argsort(keys, kind="stable")
    keys, children = keys[sort], children[sort]
    parents = keys // vocab_size
    self.num_states = next_id
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
    self.keys, self.children = as_tensor(keys), as_tensor(children)
    self.tokens = as_tensor(keys % vocab_size)
    self.offsets = as_tensor(np.searchsorted(parents, np.arange(next_id + 1)))
    self.nbytes = sum(t.numel() * t.element_size()
                      for t in (self.keys, self.children, self.tokens, self.offsets))

  def advance(self, states, tokens):
    """``states [N]`` (int64) after ``tokens [N]``; ``-1`` where the edge does not exist."""
    torch = self.torch
    keys = states.clamp(min=0) * self.vocab_size + tokens
    at = torch.searchsorted(self.keys, keys).clamp(max=self.keys.numel() - 1)
    found = (self.keys[at] == keys) & (states >= 0)
    return torch.where(found, self.children[at], torch.full_like(states, -1))

  def walk(self, prefixes):
    """States reached from the root along ``prefixes [N, T]`` (int64)."""
    states = self.torch.zeros(prefixes.shape[0], dtype=self.torch.int64,
                              device=prefixes.device)
    for t in range(prefixes.shape[1]):
      states = self.advance(states, prefixes[:, t])
    return states

  def allowed(self, states):
    """``[N, V]`` bool: the tokens that continue each state (none for ``-1``)."""
    torch = self.torch
    safe = states.clamp(min=0)
    start = self.offsets[safe]
    counts = torch.where(states >= 0, self.offsets[safe + 1] - start, torch.zeros_like(start))
    rows = torch.repeat_interleave(torch.arange(states.numel(), device=states.device), counts)
    first = torch.cumsum(counts, 0) - counts  # each row's first slot in the flat list
    slot = torch.arange(rows.numel(), device=states.device) - first[rows] + start[rows]
    mask = torch.zeros((states.numel(), self.vocab_size), dtype=torch.bool, device=states.device)
    mask[rows, self.tokens[slot]] = True
    return mask


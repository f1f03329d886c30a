"""fsnlu_jax: data-efficient natural-language understanding in JAX.

Shape glossary. Docstrings write array shapes as ``[B, L, D]``, and code
comments as ``# --> [B, W, V]`` after a reshape or gather; each module's
``Shapes:`` line lists the letters it uses. A letter means the same thing in
every module:

=======  ===============================================================
letter   meaning
=======  ===============================================================
``A``    trie edges (arcs)
``B``    batch: the rows of one batch (examples, pairs)
``C``    classes (intents)
``D``    width (embeddings, model, sentence vectors); ``D...`` the shape
         of one example
``E``    episodes
``F``    largest trie fan-out kept sparse
``G``    character n-grams
``H``    LSTM hidden width per direction
``K``    shots (support examples per way)
``L``    padded length, in tokens or word pieces
``M``    integrated-gradients steps (quadrature points)
``N``    ways (classes of an episode)
``P``    pool rows (an episode's support/query pool, the selection pool)
``Q``    queries (examples scored against a support set or an index)
``R``    tries of a forest (roots)
``S``    trie states
``T``    tags (BIO slot tags)
``U``    utterances: the rows of a split, an index or a trie's input
``V``    vocabulary
``W``    beam
``X``    errors (the wrong outputs explained)
``Y``    explained outputs (the rows of a heat map)
``Z``    generator noise width
=======  ===============================================================

Longer names refine a letter: ``B_L`` examples in length bucket ``L``,
``Bc`` rows per chunk, ``Bg`` examples per length group, ``Bw`` decoding rows
(``B * W`` under a beam); ``D_s`` sentence width, ``D_p`` ProtoNet width,
``Dh = D / Nh`` width per head, ``Dff`` feed-forward width, ``Dz...`` the
shape after an IG ``prefix``; ``H_s``, ``H_t`` shared and task bi-LSTM width;
``Kb`` selection budget, ``Ks`` synthetic samples per way; ``Ls``, ``Lt``
source and target length, ``Lq``, ``Lk`` attention query and key length,
``Lw`` words, ``Lmax`` the longest utterance; ``Mc`` IG steps per chunk; ``Nh``
attention heads, ``Np`` processes; ``Sd`` dense trie states, ``Sf`` trie states
looked up; ``Ut``, ``Ue`` training and evaluation rows. A prime marks another
size of the same kind (``L'`` a second padded length, ``Q'`` a slice of the
queries, ``W'`` the beams picked in a gather). Lower-case names (``n``, ``k``)
are the local variables of the code they annotate.
"""

__version__ = "0.1.0"

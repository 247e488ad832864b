"""Fingerprints of token streams (winnowing) and the pair scores of a class.

Fingerprints follow Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms for
document fingerprinting* (SIGMOD 2003), the algorithm behind MOSS: hash every k-gram
of normalised tokens, slide a window of ``w`` consecutive k-gram hashes along the
stream and keep the smallest hash of each window (the rightmost one on ties).  Any
run of at least ``k + w - 1`` tokens that two streams share gives both at least one
common fingerprint; a run shorter than ``k`` never does.

Hashes are stable (BLAKE2b of each token's text, combined by a polynomial modulo
2**64), so a class gives the same fingerprints, and the same scores, on every run and
machine; Python's own ``hash`` of a string changes from process to process.

The score of a pair on one unit (a question, or the whole notebook) is a weighted
containment:

    score = sum of rarity(f) over the fingerprints f both have
            / (sum of rarity(f) over the fingerprints of the one with less + PSEUDO)

``rarity(f) = clip(log(N / df) / log(N / 2), 0, 1)`` where ``df`` is the number of the
``N`` students whose notebook has ``f``: 1 for code only the two of them have, 0 for
code everybody has (as MOSS ignores passages that too many submissions share).  So a
score is "the share of the smaller answer's distinctive code that the other has too",
and ``PSEUDO`` (the weight of about ten tokens of distinctive code) keeps a one-line
answer from reaching a high score on its own: a pair who share a 10-line answer
nobody else wrote score about 0.8 on that question, a one-line one about 0.3.  With
two students there is no class to compare with and every fingerprint has rarity 1.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy import sparse

__all__ = ["K", "WINDOW", "PSEUDO", "token_hashes", "kgram_hashes", "winnow", "fingerprints", "rarity", "score_unit"]

K = 8  # tokens per k-gram (a short line of code)
WINDOW = 2  # k-grams per winnowing window: any shared run of K + WINDOW - 1 = 9 tokens is seen
PSEUDO = 20.0  # rarity added to the smaller side (see the module docstring)

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_BASE = np.uint64(0x100000001B3)  # an odd multiplier (FNV-1a's 64-bit prime)
_cache: dict[str, int] = {}


def token_hashes(values: list[str]) -> np.ndarray:
    """A stable 64-bit hash of every token, as ``uint64``."""
    out = np.empty(len(values), dtype=np.uint64)
    for i, v in enumerate(values):
        h = _cache.get(v)
        if h is None:
            h = int.from_bytes(hashlib.blake2b(v.encode("utf-8"), digest_size=8).digest(), "little")
            _cache[v] = h
        out[i] = h
    return out


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def kgram_hashes(tokens: np.ndarray, k: int = K) -> np.ndarray:
    """Hash of every k-gram of a token-hash array (``len - k + 1`` of them, or none)."""
    n = len(tokens) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        h = h * _BASE + tokens[j: j + n]  # uint64 arithmetic wraps modulo 2**64
    return _mix(h)


def winnow(hashes: np.ndarray, w: int = WINDOW) -> np.ndarray:
    """Positions of the fingerprints winnowing selects (sorted, each once)."""
    n = len(hashes)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    if w <= 1:
        return np.arange(n)
    if n <= w:
        return np.array([n - 1 - int(np.argmin(hashes[::-1]))])
    windows = np.lib.stride_tricks.sliding_window_view(hashes, w)
    rightmost = w - 1 - np.argmin(windows[:, ::-1], axis=1)  # the rightmost minimum of each window
    return np.unique(np.arange(len(windows)) + rightmost)


def fingerprints(values: list[str], k: int = K, w: int = WINDOW) -> np.ndarray:
    """The set of winnowed fingerprints of a normalised token stream (unique ``uint64``)."""
    h = kgram_hashes(token_hashes(values), k)
    return np.unique(h[winnow(h, w)])


def rarity(df: np.ndarray, n_students: int) -> np.ndarray:
    """Weight of a fingerprint held by ``df`` of ``n_students`` (see the module docstring)."""
    df = np.asarray(df, dtype=float)
    if n_students <= 2:
        return np.ones_like(df)
    return np.clip(np.log(n_students / np.maximum(df, 1.0)) / math.log(n_students / 2), 0.0, 1.0)


def score_unit(sets: list[np.ndarray], columns: dict[int, int], weights: np.ndarray,
               pseudo: float = PSEUDO) -> np.ndarray:
    """Pair scores of one unit (an N x N array, 0 on the diagonal) from each student's
    fingerprint set; ``columns`` maps a fingerprint to its index in ``weights`` (the
    class's rarity of every fingerprint)."""
    n = len(sets)
    rows = [np.full(len(fps), i, dtype=np.intp) for i, fps in enumerate(sets)]
    cols = [np.fromiter((columns[int(f)] for f in fps), dtype=np.intp, count=len(fps)) for fps in sets]
    r = np.concatenate(rows) if rows else np.empty(0, dtype=np.intp)
    c = np.concatenate(cols) if cols else np.empty(0, dtype=np.intp)
    m = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, len(weights)))
    shared = (m @ sparse.diags(weights) @ m.T).toarray()
    mass = m @ weights
    score = shared / (np.minimum.outer(mass, mass) + pseudo)
    np.fill_diagonal(score, 0.0)
    return score

"""Text as the portal compares it: no case, no accents, ligatures spelled out.

One folding for every comparison (names in the staff's search, communes of birth, passwords
against the holder's names) and, kept to ASCII, for what is made from a name (usernames, file
names): « Wœrth » is found by « Woerth », « Œuvre » gives « oeuvre ».
"""

from __future__ import annotations

import unicodedata

__all__ = ["ascii_fold", "fold"]

# What NFKD leaves whole and French writes: the ligatures (ß is already "ss" once casefolded).
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae"})


def fold(text: str) -> str:
    """« Œuvre Éléonore » → « oeuvre eleonore »: case and accents gone, ligatures spelled out,
    every other character kept."""
    # casefolded again: a compatibility character may decompose to capitals (« № » → « No »)
    decomposed = unicodedata.normalize("NFKD", text.casefold()).casefold()
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.translate(_LIGATURES)


def ascii_fold(text: str) -> str:
    """:func:`fold`, then only the ASCII characters kept."""
    return fold(text).encode("ascii", "ignore").decode()

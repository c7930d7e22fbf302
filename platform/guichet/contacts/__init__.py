"""The people around a citizen (entourage): household, people to warn, doctor, home help."""

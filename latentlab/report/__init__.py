"""The report stage's library: the claims and their verdicts, the figures, the text."""

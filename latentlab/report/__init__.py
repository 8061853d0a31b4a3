"""The report stage's library: the results gathered (results), the claims and their verdicts
(comparison), each metric's wording (labels), the figures (figures on the pixel-exact canvas,
plots) and what draws them (drawing), and the text (text, filling report.md.j2)."""

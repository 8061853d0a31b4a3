"""The report stage's library: the results gathered (results), the claims and their verdicts
(comparison), whether the instruments can decide them (instruments), the mechanisms' factorial
(factorial) and its report pieces (mechanisms), each metric's wording (labels), the first screen
and the answer (answer), the figures (figures and data_map on the pixel-exact canvas, plots) and
what draws them (drawing), and the text (text, filling report.md.j2)."""

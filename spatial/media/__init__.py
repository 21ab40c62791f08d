"""Photos and media: content-addressed storage (``store``), image checks and copies (``images``),
the ``media`` rows and who may see which copy (``service``)."""

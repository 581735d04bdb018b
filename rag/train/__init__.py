"""Training the reader on public reading-comprehension data (``rag train-reader``)."""

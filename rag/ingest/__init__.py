"""Reading the archive: page files into clean text, articles, sentences and chunks.

- ``pages``: read a page file (any encoding) into clean reading-order text with an offset map.
- ``articles``: segment pages into articles (headlines, bylines, datelines, jumps across pages).
- ``chunks``: split articles into sentences and passages.
- ``tokenize``: jieba behind one ``tokenize(text)`` (and ``pos_tag``) for the lexical side.
"""

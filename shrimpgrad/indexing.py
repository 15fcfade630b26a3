"""Indexing and joining for Tensor (mixed into `Tensor`): __getitem__, __setitem__, gather, cat, stack,
split, chunk. Being written in this session."""


class IndexingMixin:
    pass

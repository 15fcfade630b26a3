"""Neural-network ops for Tensor (mixed into `Tensor`): conv2d, pooling, cumsum, losses.
Being written in this session."""


class NNOpsMixin:
    pass

"""ShrimpGrad: an educational staged tensor compiler. `from shrimpgrad import Tensor, dtypes`."""

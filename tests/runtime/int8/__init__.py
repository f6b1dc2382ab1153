"""Bit-exactness tests of the int8 runtime arithmetic against TFLite Micro (golden) and LiteRT's
reference kernels (secondary): the one-op model builder and runners live in ``bench.py``, the
arbitrary-precision reference of the fixed-point primitives in ``reference.py``."""

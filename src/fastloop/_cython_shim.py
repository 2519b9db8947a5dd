"""Stands in for the ``cython`` module when Cython is not installed.

The hot modules are Cython pure-Python-mode sources. Uncompiled, they only
read ``cython.compiled`` at run time (every other use of ``cython`` sits in a
branch taken when compiled) and apply the class decorators below, which
change nothing uncompiled; so the pure build needs neither Cython nor a C
compiler.
"""

compiled = False


def freelist(size):
    """Uncompiled, a class keeps no freelist: the decorator changes nothing."""
    return lambda cls: cls


def cclass(cls):
    """Uncompiled, a class stays a Python class."""
    return cls


def final(cls):
    """Uncompiled, nothing stops a subclass."""
    return cls


def no_gc_clear(cls):
    """Uncompiled, the collector clears what it clears."""
    return cls


def auto_pickle(enabled):
    """Uncompiled, pickling is Python's own."""
    return lambda cls: cls

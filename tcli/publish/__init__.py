"""Publishing: package a template and verify the ZIP as the platform would open it.

Uses :mod:`tcli.validate` and :mod:`tcli.packaging`; neither of them imports this package.
"""

"""Broken on purpose: a syntax error on line 3; starting it must fail with
an error naming this file and line."""
def broken(:
    pass

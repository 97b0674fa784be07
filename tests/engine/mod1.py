"""A user module that job functions use without importing it (required_modules auto-detection)."""
import math


def plusceil(x, y):
    return math.ceil(x) + y

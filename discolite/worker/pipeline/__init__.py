"""Disco 0.5's pipeline worker: jobs as a list of ``(grouping, Stage)`` pairs (see ``.worker``)."""

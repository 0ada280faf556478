"""Counts in messages, in the right number: "1 pack", "72 files"."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, plural (`plural`, or `noun` + "s") unless the count is 1: counted(1, "run")
    is "1 run", counted(3, "pack is", "packs are") is "3 packs are"."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"

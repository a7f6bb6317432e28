"""Streaming X12 837 reader: bytes in, claim / line / diagnosis rows out."""

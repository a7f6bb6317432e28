"""Streaming X12 837 reader: bytes in, claim / line / diagnosis rows out.

Entry points: ``claimaudit.x12.parser.parse_bytes(data, source_file)`` and ``parse_path(path)``.
``reference`` reads the same rows through pyx12 (tests and benchmark only).
"""

"""Streaming X12 837 reader: bytes in, claim / line / diagnosis rows out.

Entry points: ``claimaudit.x12.parser.parse_bytes(data, source_file)`` and ``parse_path(path)``.
``parser`` reads the envelopes, ``transaction`` each 837 transaction set's loops (one state machine),
``segments`` cuts the text into interchanges and segments; ``cursor`` is what the two readers share.
The same rows read through pyx12, the correctness reference, are in tests/support/pyx12_reader.py.
"""

"""The morning audit digest: rendered as a pure function of the report store."""

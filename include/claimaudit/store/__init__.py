"""Report store: claim history, audit runs, findings and rejections (SQLAlchemy)."""

"""Findings review: browsing the report DB's findings and triaging them with an audit trail.

Pure Python (SQLAlchemy, Jinja2, FastAPI): never imports Airflow. ``plugins/claims_audit_review.py``
mounts :func:`claimaudit.review.web.create_app` in Airflow's api-server with Airflow's auth checks.
"""

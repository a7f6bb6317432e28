# The image every Airflow service of docker-compose.yml runs: Apache Airflow 3.3.2 plus this
# project's pinned requirements, installed at build time (never pip-installed at container start).
FROM apache/airflow:3.3.2-python3.11

# requirements.txt pins apache-airflow==3.3.2 like the base image; constraints.txt holds the
# whole resolved set (unpinned, pip silently falls back to great-expectations 0.18).
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/deploy/
RUN pip install --no-cache-dir -r /opt/airflow/deploy/requirements.txt -c /opt/airflow/deploy/constraints.txt

# The claimaudit package is installed editable from /opt/airflow/include, where docker-compose
# mounts ./include: code changes need a restart, not a rebuild, and the `claimaudit` command exists.
COPY --chown=airflow:0 include/ /opt/airflow/include/
RUN pip install --no-cache-dir --no-deps -e /opt/airflow/include
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 expectations/ /opt/airflow/expectations/

# Created here, owned by airflow (group 0 writable, like the rest of the image), so the named
# volumes mounted on them start out writable for AIRFLOW_UID.
RUN mkdir -p /opt/airflow/var /opt/airflow/auth && chmod 2775 /opt/airflow/var /opt/airflow/auth

# settings.PROJECT_ROOT resolves to /opt/airflow, so expectations/ and var/ are found there.
ENV PYTHONPATH=/opt/airflow/include \
    AUDIT_VAR_DIR=/opt/airflow/var

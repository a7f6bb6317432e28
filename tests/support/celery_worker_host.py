"""``[core] hostname_callable`` for the Celery integration test: two workers on one machine stand
for two hosts, so each reports the name it was started with (on real hosts the FQDN differs)."""

import os


def worker_hostname() -> str:
    return os.environ["AUDIT_TEST_WORKER_HOST"]

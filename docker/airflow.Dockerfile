# The Airflow image of docker-compose.yaml: the stock image plus the project's pinned locks
# (the OpenSearch provider, GX, duckdb, ... and torch for the local trainer job).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}
COPY requirements.txt requirements-trainer.txt /tmp/locks/
RUN pip install --no-cache-dir -r /tmp/locks/requirements.txt -r /tmp/locks/requirements-trainer.txt

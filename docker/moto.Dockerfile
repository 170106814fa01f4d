# The moto of docker-compose.yaml: moto's own image, serving its app under gunicorn with the
# settings of the Docker-less stack (scripts/moto_gunicorn.conf.py), which keeps connections open.
ARG MOTO_IMAGE=motoserver/moto:5.2.5
FROM ${MOTO_IMAGE}
ARG GUNICORN_VERSION=26.2.0
RUN pip install --no-cache-dir "gunicorn==${GUNICORN_VERSION}"
COPY scripts/moto_wsgi.py scripts/moto_gunicorn.conf.py /opt/moto/
ENTRYPOINT ["gunicorn", "-c", "/opt/moto/moto_gunicorn.conf.py", "-b", "0.0.0.0:5000"]

# gunicorn settings of the moto server of both local stacks: scripts/services.sh and
# docker/moto.Dockerfile (each adds only its bind address).
import os

pythonpath = os.path.dirname(os.path.abspath(__file__))
wsgi_app = "moto_wsgi:app"
workers = 1  # moto keeps every bucket and table in its process: a second worker would hold others
worker_class = "gthread"
threads = 8  # the pipeline's DynamoDB sync has 8 requests in flight
keepalive = 75  # seconds an idle connection stays open for the client's pool
timeout = 0  # never restart the worker (that would empty every bucket and table), however long a request
graceful_timeout = 5  # moto holds nothing that a stop should wait for
control_socket_disable = True  # else one fixed path under $HOME, shared by every stack on the machine

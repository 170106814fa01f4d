"""moto's server app, as ``moto_server`` builds it, for gunicorn (scripts/moto_gunicorn.conf.py).

``moto_server`` serves it with werkzeug's development server, which closes the connection after
every response: each DynamoDB write then costs a new TCP connection and a new thread."""

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)

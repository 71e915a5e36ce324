"""The Python HTTP floor: a bare WSGI "hello" under gunicorn, with the product's gunicorn
configuration (deploy/gunicorn.conf.py: the same workers, the same worker class), no Django.
What the trivial view costs above it is Django's and the middleware's."""

BODY = b'{"ok": true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]

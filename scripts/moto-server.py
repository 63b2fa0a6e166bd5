"""moto's server, as `moto_server` runs it, with one change: DynamoDB requests are served one
at a time.

moto's DynamoDB checks a ConditionExpression and then writes, without a lock, while its server
answers requests on many threads; two concurrent conditional updates of one item can then both
pass, which real DynamoDB never allows (it serialises writes per item). TradAI's exactly-once
claims rest on that guarantee, so the emulator must keep it. Other services (SQS long polls)
stay concurrent.

Usage: python moto-server.py HOST PORT   (scripts/moto-server.sh starts it)
"""
import signal
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (the JSON protocol names its target in
    the X-Amz-Target header, `DynamoDB_20120810.UpdateItem`)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                # The body is produced inside the lock: moto builds it eagerly anyway.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, SerialDynamoDB(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

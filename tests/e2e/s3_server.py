"""moto's S3 server on loopback that dies in the middle of a transfer, for the fault tests.

`python tests/e2e/s3_server.py --port P --die-after N --method PUT` serves S3 exactly as
`moto_server` does until N object requests with that method have been answered; the next one
kills the process on the spot (no response, connection reset), as a crashed or unplugged
server would. The ordinary tests run `moto_server` itself.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--die-after", type=int, required=True, help="object requests answered before dying")
    parser.add_argument("--method", choices=["GET", "PUT"], required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    answered = 0

    def dying(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        nonlocal answered
        # path-style object requests: /<bucket>/<key...>; bucket-level calls do not count
        is_object = environ["PATH_INFO"].strip("/").count("/") >= 1
        if is_object and environ["REQUEST_METHOD"] == args.method:
            if answered >= args.die_after:
                os._exit(1)
            answered += 1
        result: Iterable[bytes] = app(environ, start_response)
        return result

    run_simple("127.0.0.1", args.port, dying, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

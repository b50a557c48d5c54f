"""Run the emulator under uvicorn and announce its base URL once it accepts connections."""

from __future__ import annotations

import copy
import logging
import sys
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from airflow_provider_sfmc_de.emulator.config import (
    EmulatorConfigError,
    default_config,
    parse_config,
    read_config_file,
)
from airflow_provider_sfmc_de.emulator.process import READY_MESSAGE

if TYPE_CHECKING:
    import argparse
    import socket

log = logging.getLogger(__name__)


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints its base URL, with the port it really got, when ready."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown_host = f"[{host}]" if ":" in host else host
        print(f"{READY_MESSAGE} http://{shown_host}:{port}", flush=True)


def serve(
    config: dict[str, Any], *, host: str = "127.0.0.1", port: int = 0, access_log: bool = False
) -> None:
    """Serve until interrupted (Ctrl+C or SIGTERM)."""
    # FastAPI takes a while to import; a bad config file is reported before that.
    from airflow_provider_sfmc_de.emulator.app import create_app

    app = create_app(config)
    # stdout carries only the ready line, so that a parent process can read it; logs go to
    # stderr (uvicorn's default sends its access log to stdout).
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    # Importing Airflow (the other sfmc-de commands do) turns off uvicorn.error's propagation.
    log_config["loggers"]["uvicorn.error"]["propagate"] = True
    server = _AnnouncingServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            log_config=log_config,
            access_log=access_log,
            timeout_graceful_shutdown=2,
            # Clients poll every few seconds; a longer keep-alive spares them reconnecting.
            timeout_keep_alive=75,
        )
    )
    server.run()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON config file; settings it leaves out keep their defaults (default: demo config)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default: 0)"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request line (paths only; bodies and headers are never logged)",
    )


def run(args: argparse.Namespace) -> int:
    """Start the emulator as the parsed command line asks."""
    # force: importing Airflow (for other sfmc-de commands) may have set up logging already.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True
    )
    try:
        config = read_config_file(args.config) if args.config else default_config()
        parse_config(config)
        serve(config, host=args.host, port=args.port, access_log=args.access_log)
    except KeyboardInterrupt:
        # uvicorn has shut down cleanly and re-raises Ctrl+C; that is a normal stop.
        return 0
    except EmulatorConfigError as error:
        print(f"sfmc-de emulator: {error}", file=sys.stderr)
        return 2
    return 0

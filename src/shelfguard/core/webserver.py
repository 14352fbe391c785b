"""Running the WSGI application under gunicorn from inside the `shelfguard` command."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _ShelfguardApplication(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from shelfguard.wsgi import application

        return application


def run_gunicorn(*, host: str, port: int, workers: int) -> None:
    bind = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
    _ShelfguardApplication(
        {
            "bind": bind,
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "accesslog": None,  # request lines carry search terms: not logged by default
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 60,
            "graceful_timeout": 10,
            "preload_app": True,
        }
    ).run()

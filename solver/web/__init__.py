"""`aicsolve webapp`: a local web page over the solver (solver.web.app), same JSON as `aicsolve --json`."""

from __future__ import annotations

from solver.errors import UserError


def serve(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the web app until Ctrl+C; UserError when the [web] extra (starlette, uvicorn) is missing."""
    try:
        from solver.web.app import serve as run
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UserError(
            f"`aicsolve webapp` needs {e.name or 'starlette and uvicorn'}: pip install 'aicsolve[web]'."
        ) from None
    run(host, port)

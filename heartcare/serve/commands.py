"""`heartcare serve`: the web page and the OpenAI-compatible API under uvicorn."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="web page to upload an ECG and ask about it, and an OpenAI-compatible API")
    parser.add_argument("--model", type=Path, default=None, help="HeartcareGPT checkpoint folder (without it: no chat)")
    parser.add_argument("--beat", type=Path, default=None, help="Beat checkpoint for forecasts (default: the model's own)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key-env", default=None, metavar="VAR", help="require 'Authorization: Bearer $VAR' on the API")
    parser.add_argument("--max-upload-mb", type=float, default=20.0)
    parser.add_argument("--max-queue", type=int, default=32, help="waiting chat requests before 429")
    parser.add_argument("--max-batch", type=int, default=8, help="chat requests decoded together")
    parser.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable; default none)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from heartcare.serve.app import create_app
    from heartcare.serve.settings import ServeSettings

    settings = ServeSettings(model=args.model, beat=args.beat, api_key_env=args.api_key_env, max_upload_mb=args.max_upload_mb,
                             max_queue=args.max_queue, max_batch=args.max_batch, cors_origins=tuple(args.cors_origin))
    app = create_app(settings)
    if args.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        print(f"warning: listening on {args.host} without --api-key-env: anyone who can reach it can use it")
    print(f"heartcare serve: http://{args.host}:{args.port}/  (chat: {'on' if settings.model else 'off, no --model'})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0

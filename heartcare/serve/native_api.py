"""The page's own routes: upload -> id, summary, drawing (PNG/SVG), Beat's forecast, report PDF, capabilities."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from heartcare.ecg.leads import STANDARD_LEADS
from heartcare.errors import HeartcareError
from heartcare.serve.analysis import summarise
from heartcare.serve.api_errors import ApiError, from_heartcare
from heartcare.serve.uploads import Upload, decode

router = APIRouter(prefix="/api")
READ_CHUNK = 1 << 20


async def read_upload(server, files: list[UploadFile], fs: float | None) -> Upload:
    """Read multipart files with the size limit enforced while reading (never more than limit + 1 MiB in memory)."""
    limit = server.settings.max_upload_bytes
    contents, total = [], 0
    for file in files:
        chunks = []
        while chunk := await file.read(READ_CHUNK):
            total += len(chunk)
            if total > limit:
                raise ApiError(413, f"{file.filename or 'upload'}: upload is above the {server.settings.max_upload_mb:g} MiB limit",
                               "upload_too_large")
            chunks.append(chunk)
        contents.append((file.filename or "upload", b"".join(chunks)))
    if fs is not None and fs <= 0:
        raise ApiError(400, "fs must be a positive sampling rate in Hz", "invalid_value", "fs")
    try:
        return await asyncio.to_thread(decode, contents, fs, limit)
    except HeartcareError as error:
        raise from_heartcare(error, "file") from error


def _upload(request: Request, upload_id: str, need_ecg: bool = True) -> Upload:
    upload = request.app.state.server.store.get(upload_id)
    if upload is None:
        raise ApiError(404, f"no upload {upload_id!r} (uploads expire; upload it again)", "file_not_found")
    if need_ecg and upload.ecg is None:
        raise ApiError(400, "this upload is a picture: drawing, measurements and forecasts need an ECG signal file",
                       "needs_signal")
    return upload


def _describe(upload_id: str, upload: Upload) -> dict[str, Any]:
    described: dict[str, Any] = {"id": upload_id, "kind": upload.kind, "format": upload.format, "name": upload.name}
    if upload.ecg is not None:
        described["summary"] = summarise(upload.ecg)
    else:
        described["picture"] = {"height": int(upload.picture.pixels.shape[0]), "width": int(upload.picture.pixels.shape[1]),
                                "drawn_by_heartcare": upload.picture.render_parameters is not None}
    return described


@router.get("/capabilities")
def capabilities(request: Request) -> dict[str, Any]:
    return request.app.state.server.capabilities()


@router.post("/uploads")
async def create_upload(request: Request, files: Annotated[list[UploadFile], File()], fs: Annotated[float | None, Form()] = None) -> dict[str, Any]:
    server = request.app.state.server
    upload = await read_upload(server, files, fs)
    identifier = server.store.add(upload)
    return await asyncio.to_thread(_describe, identifier, upload)


@router.get("/uploads/{upload_id}")
async def get_upload(request: Request, upload_id: str) -> dict[str, Any]:
    upload = _upload(request, upload_id, need_ecg=False)
    return await asyncio.to_thread(_describe, upload_id, upload)


@router.get("/uploads/{upload_id}/drawing.{suffix}")
async def drawing(request: Request, upload_id: str, suffix: str) -> Response:
    from heartcare.render.output import render

    if suffix not in ("png", "svg"):
        raise ApiError(404, "drawings are drawing.png or drawing.svg", "not_found")
    upload = _upload(request, upload_id, need_ecg=False)
    if upload.ecg is None:  # a picture is shown as it was uploaded
        from heartcare.render.output import encode_image

        return Response(await asyncio.to_thread(encode_image, upload.picture.pixels, "png"), media_type="image/png")
    content = await asyncio.to_thread(render, upload.ecg, format=suffix)
    return Response(content, media_type="image/png" if suffix == "png" else "image/svg+xml")


def _forecast(server, upload: Upload) -> tuple[Any, float]:
    from heartcare.model.ask import predict_next

    if server.beat is None:
        raise ApiError(503, "forecasts need a Beat: start `heartcare serve --beat CKPT` (or a --model that has one)", "beat_not_loaded")
    with server.beat_lock:
        return predict_next(server.beat, upload.ecg)


@router.post("/uploads/{upload_id}/prediction")
async def prediction(request: Request, upload_id: str) -> dict[str, Any]:
    server = request.app.state.server
    upload = _upload(request, upload_id)
    signal, fs = await asyncio.to_thread(_forecast, server, upload)
    return {"fs": fs, "leads": list(STANDARD_LEADS), "seconds": signal.shape[1] / fs,
            "signal": [[round(float(value), 5) for value in lead] for lead in signal]}


@router.get("/uploads/{upload_id}/prediction.png")
async def prediction_png(request: Request, upload_id: str) -> Response:
    server = request.app.state.server
    upload = _upload(request, upload_id)

    def draw() -> bytes:
        from heartcare.model.forecast_plot import plot_forecast

        signal, fs = _forecast(server, upload)
        with tempfile.TemporaryDirectory(prefix="heartcare-forecast-") as scratch:
            return plot_forecast(upload.ecg, signal, fs, Path(scratch) / "forecast.png").read_bytes()

    return Response(await asyncio.to_thread(draw), media_type="image/png")


@router.post("/uploads/{upload_id}/report.pdf")
async def report(request: Request, upload_id: str) -> Response:
    from heartcare.serve.report_pdf import report_pdf

    upload = _upload(request, upload_id)
    try:
        body = await request.json()
    except ValueError as error:  # not JSON (json.JSONDecodeError and UnicodeDecodeError are ValueErrors)
        raise ApiError(400, "send the report as JSON: {\"text\": ...}", "invalid_json") from error
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "send the report as {\"text\": ...}", "invalid_value", "text")
    server = request.app.state.server
    summary = await asyncio.to_thread(summarise, upload.ecg)
    content = await asyncio.to_thread(report_pdf, upload.ecg, text[:20000], server.model_name, summary["measurements"])
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="ecg-report.pdf"'})



"""`heartcare serve`: a web page to upload an ECG and ask about it, and an OpenAI-compatible API.

`create_app(settings)` builds the FastAPI app; `heartcare serve` runs it under uvicorn.
Everything but the chat (drawing, measurements, quality, Beat's forecast) works without a
language model; the chat needs a HeartcareGPT checkpoint (`--model`).
"""

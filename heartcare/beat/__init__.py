"""Beat: the dual-level residual-VQ ECG tokenizer (Heartcare Suite, arXiv 2506.05831, sec. 3).

4 s of 12-lead ECG at 250 Hz -> 20 query tokens, each quantised by two residual
codebooks (core C1, residual C2). Torch is imported only by the modules that
need it, so `import heartcare.beat` and `BeatConfig` stay light.

    config.py       BeatConfig (frozen, saved in checkpoints) and the named presets
    transformer.py  pre-norm blocks: fused QKV, fused SDPA attention, bias-free GEMMs
    encoder.py      12-lead patches + learned queries -> query latents
    quantizer.py    residual VQ: EMA codebooks, rotation trick, diversity loss, restarts
    decoder.py      mask-token decoder (reconstruction) and prediction head (next 2 s)
    model.py        Beat: encode / decode / predict / forward, save/from_pretrained
    parallel.py     window-parallel CPU inference: the thread pools and thread-count switch
    data.py         PTB-XL-layout folder -> normalised windows per split (cached)
    crops.py        whole records cached at 250 Hz -> random-offset training crops
    fit.py          train Beat with heartcare.train (stage presets)
    evaluate.py     PRD, SNR, Pearson, Code%, perplexity, clinical fidelity, figures
    scoring.py      the windows `encode_ecg` cuts (first left-padded), with futures: what eval scores
    baseline.py     same-bit-rate k-means product-quantisation baseline
    ablate.py       codebook size x context x shared/separate grid (Table 18 shape)
    tokens.py       the versioned token file (.beat.safetensors)
    files.py        encode / decode / predict one ECG file; folder expansion, output names
    batch.py        encode / predict folders fast: parallel reading, many records per model call
    commands.py     `heartcare beat train|eval|encode|decode|predict|ablate`
"""

from heartcare.beat.config import PRESETS, BeatConfig, preset

__all__ = ["PRESETS", "BeatConfig", "preset"]

"""Dataset adapters that yield labelled ECG records (PTB-XL, MIMIC-IV-ECG, ...)."""

"""Data: text-to-speech, corpora, manifests."""

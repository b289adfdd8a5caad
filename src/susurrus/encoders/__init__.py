"""Speech encoders."""

from susurrus.encoders.whisper import AnyLengthWhisperEncoder, encoder_lengths

__all__ = ["AnyLengthWhisperEncoder", "encoder_lengths"]

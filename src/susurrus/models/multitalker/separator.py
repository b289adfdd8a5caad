"""Separators: encoder states -> one stream of states per talker branch, from a registry.

    sep = build_separator("lstm", width=384, branches=3, hidden=256)
    out = sep(hidden, lengths)    # (B, T, D), (B,) -> (B, S, T, D)

- `lstm` — the authors' separator (Hao-Shi-SBINT `models/separator.py`, NOTES-003): Linear +
  ReLU + LayerNorm -> a 2-layer (bi)LSTM -> LayerNorm -> one MLP per branch (Linear, ReLU,
  Linear back to D, ReLU, LayerNorm). The LSTM reads packed sequences, so padding never reaches
  a sample's states. Each branch's last LayerNorm gets a small distinct bias, as theirs does,
  so the branches do not start identical (serialized CTC would otherwise push equal gradients).
- `mask` — a Sidecar-style separator (LingweiMeng/Whisper-Sidecar `model/sidecar.py`): a
  Conv-TasNet TCN (repeats x blocks of dilated depthwise convolutions, bottleneck, global layer
  norm) that writes one sigmoid mask per branch; branch s = mask_s * encoder states. Frames past
  a sample's length are zeroed before every convolution and left out of the norms' statistics,
  so a padded sample gets what it gets alone.

Shapes: B batch, T frames, D encoder width, S branches, H hidden width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

BRANCH_BIAS = 0.02  # the distinct bias step between branches at init (authors' code)


def frame_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B,) valid frames -> (B, T, 1) float mask."""
    return (torch.arange(T, device=lengths.device)[None] < lengths[:, None]).float()[..., None]


@dataclass(frozen=True)
class LSTMSeparatorConfig:
    """The authors' LSTM separator."""

    hidden: int = 256  # width of the input projection and of each LSTM direction
    layers: int = 2  # LSTM layers
    bidirectional: bool = True  # read the whole mixture both ways (offline recognition)
    branch_hidden: int = 256  # hidden width of each branch's MLP

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "branch_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"LSTMSeparatorConfig.{name} must be >= 1, got "
                                 f"{getattr(self, name)}")


class LSTMSeparator(nn.Module):
    """Shared LSTM, then one MLP per talker branch."""

    def __init__(self, width: int, branches: int, config: LSTMSeparatorConfig) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(width, config.hidden), nn.ReLU(),
                                 nn.LayerNorm(config.hidden))
        self.lstm = nn.LSTM(config.hidden, config.hidden, config.layers, batch_first=True,
                            bidirectional=config.bidirectional)
        out = config.hidden * (2 if config.bidirectional else 1)
        self.norm = nn.LayerNorm(out)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Linear(out, config.branch_hidden), nn.ReLU(),
                          nn.Linear(config.branch_hidden, width), nn.ReLU(), nn.LayerNorm(width))
            for _ in range(branches))
        with torch.no_grad():
            for s, branch in enumerate(self.branches):
                branch[-1].bias.fill_(BRANCH_BIAS * s)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, D), lengths (B,) -> (B, S, T, D); frames past a length are zeros."""
        B, T, _ = hidden.shape
        x = self.inp(hidden)  # (B, T, H)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        y, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=T)
        y = self.norm(y)  # (B, T, H')
        mask = frame_mask(lengths, T)
        return torch.stack([branch(y) * mask for branch in self.branches], dim=1)


@dataclass(frozen=True)
class MaskSeparatorConfig:
    """A Sidecar-style TCN that writes one mask per branch."""

    bottleneck: int = 128  # channels of the TCN
    hidden: int = 256  # channels inside each block
    blocks: int = 4  # dilated blocks per repeat (dilation 1, 2, 4, ...)
    repeats: int = 2  # stacks of blocks (Sidecar: 3 x 8)
    kernel: int = 3  # depthwise kernel size (odd)

    def __post_init__(self) -> None:
        for name in ("bottleneck", "hidden", "blocks", "repeats", "kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"MaskSeparatorConfig.{name} must be >= 1, got "
                                 f"{getattr(self, name)}")
        if self.kernel % 2 == 0:
            raise ValueError(f"MaskSeparatorConfig.kernel must be odd, got {self.kernel}")


class MaskedGlobalNorm(nn.Module):
    """Global layer norm (gLN) over the valid frames and all channels of each sample."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), mask (B, 1, T) -> (B, C, T), zero past each length."""
        count = mask.sum(dim=(1, 2), keepdim=True) * x.shape[1]  # (B, 1, 1)
        mean = (x * mask).sum(dim=(1, 2), keepdim=True) / count
        var = (((x - mean) * mask) ** 2).sum(dim=(1, 2), keepdim=True) / count
        return ((x - mean) / torch.sqrt(var + 1e-8) * self.weight + self.bias) * mask


class _TCNBlock(nn.Module):
    """1x1 conv -> PReLU -> gLN -> dilated depthwise conv -> PReLU -> gLN -> 1x1 conv, residual."""

    def __init__(self, channels: int, hidden: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.inp = nn.Conv1d(channels, hidden, 1)
        self.act1, self.norm1 = nn.PReLU(), MaskedGlobalNorm(hidden)
        self.depth = nn.Conv1d(hidden, hidden, kernel, padding=dilation * (kernel - 1) // 2,
                               dilation=dilation, groups=hidden)
        self.act2, self.norm2 = nn.PReLU(), MaskedGlobalNorm(hidden)
        self.out = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), mask (B, 1, T) -> (B, C, T)."""
        h = self.norm1(self.act1(self.inp(x)), mask)  # zero past the end: as the conv's padding
        h = self.norm2(self.act2(self.depth(h)), mask)
        return (x + self.out(h)) * mask


class MaskSeparator(nn.Module):
    """TCN over the encoder states -> S sigmoid masks -> S masked copies of the states."""

    def __init__(self, width: int, branches: int, config: MaskSeparatorConfig) -> None:
        super().__init__()
        self.branches = branches
        self.norm = MaskedGlobalNorm(width)
        self.inp = nn.Conv1d(width, config.bottleneck, 1)
        self.blocks = nn.ModuleList(
            _TCNBlock(config.bottleneck, config.hidden, config.kernel, 2 ** b)
            for _ in range(config.repeats) for b in range(config.blocks))
        self.act = nn.PReLU()
        self.masks = nn.Conv1d(config.bottleneck, branches * width, 1)
        with torch.no_grad():  # distinct branches at init, as the LSTM separator's
            bias = self.masks.bias.view(branches, width)
            for s in range(branches):
                bias[s] += BRANCH_BIAS * 10 * (s - (branches - 1) / 2)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, D), lengths (B,) -> (B, S, T, D); frames past a length are zeros."""
        B, T, D = hidden.shape
        mask = frame_mask(lengths, T).transpose(1, 2)  # (B, 1, T)
        x = self.inp(self.norm(hidden.transpose(1, 2), mask)) * mask  # (B, C, T)
        for block in self.blocks:
            x = block(x, mask)
        m = torch.sigmoid(self.masks(self.act(x)))  # (B, S*D, T)
        m = m.view(B, self.branches, D, T).transpose(2, 3)  # (B, S, T, D)
        return m * hidden[:, None] * mask.transpose(1, 2)[:, None]


@dataclass(frozen=True)
class SeparatorBuilder:
    """A registry entry: the config dataclass of its options and the module it builds."""

    config: type
    module: Callable[[int, int, object], nn.Module]

    @property
    def options(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.config))


SEPARATORS: dict[str, SeparatorBuilder] = {
    "lstm": SeparatorBuilder(LSTMSeparatorConfig, LSTMSeparator),
    "mask": SeparatorBuilder(MaskSeparatorConfig, MaskSeparator),
}


def build_separator(name: str, width: int, branches: int, **options: object) -> nn.Module:
    """The separator called `name` with its `options`; an unknown name is a KeyError naming
    the valid ones, an unknown option a TypeError, a bad value a ValueError."""
    if name not in SEPARATORS:
        raise KeyError(f"unknown separator {name!r}; valid: {', '.join(SEPARATORS)}")
    builder = SEPARATORS[name]
    return builder.module(width, branches, builder.config(**options))

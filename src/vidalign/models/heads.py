"""Frame embedders on pre-extracted features ``[B, T, D] -> [B, T, out_dim]`` (L2-normalised by default).

Three families (docs/methods.md, Encoders):

- :class:`MLPEmbedder` - per-frame MLP, no temporal context at all.
- :class:`ConvEmbedder` - residual dilated temporal convolutions with replicate padding at each video's real ends,
  translation-equivariant away from the ends (the default: it cannot read absolute frame position).
- :class:`TransformerEmbedder` - ``batch_first`` self-attention. Default: attention restricted to a local window with
  a learned *relative* position bias (translation-equivariant). ``positional_encoding=True`` adds the sine encoding
  of the frame index of the LAC paper (Vaswani et al. 2017 §3.5) - it leaks absolute time (docs/methods.md "Time
  leakage"), so it is off by default and reported separately.

Frame rate: an encoder sees at most ``max_frames`` frames of a video. A longer video is strided by
:func:`encoder_stride` (``ceil(T / max_frames)``) in training (one random phase of the stride,
:mod:`vidalign.data.sampling`) *and* at inference (every phase embedded as its own sequence, interleaved back:
:meth:`vidalign.models.model.VidalignModel.embed`), so a temporal encoder meets the same frame rate in both.

Projection head (``projection > 0``, CARL / SimCLR): ``Linear -> BatchNorm -> ReLU -> Linear`` on top of the
embedding, used by the training loss only (``forward(..., project=True)``); evaluation and inference use the
embedding before it.

Long sequences at inference (``max_frames`` None or large): :meth:`FrameEmbedder.embed_in_chunks` runs the body on
chunks with exactly the context each embedding depends on (:meth:`~FrameEmbedder.receptive_radius`: 0 for the
MLP, the sum of the conv blocks' half-kernels, ``n_layers x attention_window`` for local attention), so the result
equals the whole-sequence one and no activation spans the whole video.

Every embedder takes ``mask`` ``[B, T]`` (True = real frame, padding at the end) so padded frames never influence
real ones, and scales its input (``standardize``). ``"channel"`` and ``"global"`` use statistics stored as buffers
(fitted on training features by :meth:`FrameEmbedder.fit_input_stats`), so a saved model needs no side files:
``"channel"`` divides each channel by its own std (pose and joint-angle features: every channel carries signal, in
its own unit); ``"global"`` divides by the mean channel std, keeping the feature geometry (CNN video features: many
channels are nearly constant, and scaling them to unit variance drowns the signal in amplified noise).
``"video"`` is ASOT's ``-s`` (its Breakfast runs): each video's own per-channel mean and std over its non-zero
frames, then a division by ``sqrt(D)``; ``"none"`` feeds the features as they are (ASOT's other runs).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from vidalign.errors import ConfigError, InputError

STANDARDIZE = ("channel", "global", "video", "none")


@dataclasses.dataclass
class EncoderConfig:
    """Everything needed to rebuild an embedder (saved in a run's ``config.json``)."""

    kind: str = "conv"  # "mlp" | "conv" | "transformer"
    in_dim: int = 0
    out_dim: int = 128
    hidden: int = 256
    n_layers: int = 3
    kernel_size: int = 5  # conv: temporal kernel of each residual block
    dilation_growth: int = 2  # conv: dilation of block l is growth**l (receptive field grows geometrically)
    n_heads: int = 8  # transformer
    attention_window: int = 15  # transformer: frames each side a query may attend to (relative bias table)
    positional_encoding: bool = False  # transformer: add sine encoding of the frame index (leaks time)
    dropout: float = 0.1
    normalize: bool = True  # L2-normalise the output embeddings
    standardize: str = "channel"  # input scaling: "channel" | "global" | "video" | "none" (module docstring)
    max_frames: int | None = 512  # longer videos are strided to at most this many frames (module docstring)
    projection: int = 0  # width of the training-only projection head (0 = none; CARL: 128)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown encoder option(s): {sorted(unknown)}")
        if d.get("standardize", "channel") not in STANDARDIZE:
            raise ConfigError(f"encoder standardize must be one of {STANDARDIZE}, got {d['standardize']!r}")
        return cls(**d)


def encoder_stride(length: int, max_frames: int | None) -> int:
    """Stride at which the encoder sees a video of ``length`` frames: ``ceil(length / max_frames)`` (>= 1)."""
    if max_frames is None or length <= max_frames:
        return 1
    return -(-length // max_frames)


class ProjectionHead(nn.Module):
    """CARL's projection MLP ``Linear(D, P) -> BatchNorm1d(P) -> ReLU -> Linear(P, D)`` over the real frames."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, dim))

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(h)
        out[mask] = self.net(h[mask])
        return out


class FrameEmbedder(nn.Module):
    """Shared front and back end: input standardisation, output projection and L2 normalisation."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        if config.in_dim <= 0:
            raise ConfigError("EncoderConfig.in_dim must be set to the feature dimension")
        self.config = config
        self.register_buffer("input_mean", torch.zeros(config.in_dim))
        self.register_buffer("input_std", torch.ones(config.in_dim))
        self.output = nn.Linear(config.hidden, config.out_dim)
        self.projection = ProjectionHead(config.out_dim, config.projection) if config.projection else None

    @torch.no_grad()
    def fit_input_stats(self, features: list[torch.Tensor] | torch.Tensor) -> None:
        """Set the input standardisation from training frames (a ``[T, D]`` tensor or a list of them)."""
        if self.config.standardize in ("video", "none"):
            return  # per video at run time, or no scaling: the buffers stay (0, 1)
        frames = torch.cat(list(features)) if isinstance(features, list | tuple) else features
        frames = frames.to(self.input_mean)
        std = frames.std(0, unbiased=False)
        if self.config.standardize == "global":
            std = std.mean().expand_as(std)
        self.input_mean.copy_(frames.mean(0))
        self.input_std.copy_(std.clamp_min(1e-6))

    def body(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def receptive_radius(self) -> int | None:
        """How many frames on each side an embedding depends on (None: the whole sequence)."""
        return 0

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, project: bool = False) -> torch.Tensor:
        """Embeddings ``[B, T, out_dim]``; ``project=True`` passes them through the projection head (training
        losses; a no-op without one) before the L2 normalisation."""
        if x.ndim != 3:
            raise InputError(f"expected features [B, T, D], got shape {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return self.from_scaled(self.scale_input(x, mask), mask, project=project)

    def scale_input(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The input standardisation (``standardize``; "video" over each whole sequence), padding zeroed."""
        h = per_video_standardize(x, mask) if self.config.standardize == "video" else x
        return ((h - self.input_mean) / self.input_std) * mask.unsqueeze(-1)

    def from_scaled(self, h: torch.Tensor, mask: torch.Tensor, *, project: bool = False) -> torch.Tensor:
        """Scaled inputs -> embeddings: the body, the output layer, the projection head if asked, normalisation."""
        h = self.output(self.body(h, mask))
        if project and self.projection is not None:
            h = self.projection(h, mask)
        if self.config.normalize:
            h = F.normalize(h, dim=-1)
        return h * mask.unsqueeze(-1)

    def embed_in_chunks(self, x: torch.Tensor, chunk: int) -> torch.Tensor:
        """Embeddings ``[1, T, out_dim]`` of one whole sequence ``x`` ``[1, T, D]``, computed ``chunk`` frames at a
        time, each with :meth:`receptive_radius` frames of context on both sides: equal to ``self(x)`` (the input
        is scaled over the whole sequence first, and no output depends on frames beyond its context), while no
        activation spans more than ``chunk + 2 * radius`` frames. A body that sees the whole sequence (global
        attention) is run whole."""
        radius, length = self.receptive_radius(), x.shape[1]
        if radius is None or length <= chunk + 2 * radius:
            return self(x)
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h = self.scale_input(x, mask)
        parts = []
        for start in range(0, length, chunk):
            stop = min(length, start + chunk)
            lo, hi = max(0, start - radius), min(length, stop + radius)
            parts.append(self.from_scaled(h[:, lo:hi], mask[:, lo:hi])[:, start - lo : stop - lo])
        return torch.cat(parts, dim=1)


def per_video_standardize(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ASOT's ``-s``: per video and channel, ``(x - mean) / std`` over the real frames whose features are not all
    zero (zero frames stay 0; a constant channel becomes 0), then ``/ sqrt(D)``. ``x`` ``[B, T, D]``."""
    used = (mask & (x.sum(-1) != 0)).unsqueeze(-1).to(x.dtype)
    count = used.sum(1, keepdim=True).clamp_min(1.0)
    mean = (x * used).sum(1, keepdim=True) / count
    std = (((x - mean) ** 2 * used).sum(1, keepdim=True) / count).sqrt()
    z = torch.where(std > 0, (x - mean) / std.clamp_min(1e-12), torch.zeros_like(x)) * used
    return z / math.sqrt(x.shape[-1])


class MLPEmbedder(FrameEmbedder):
    """Per-frame MLP: ``n_layers`` x (Linear, LayerNorm, GELU, Dropout)."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        layers: list[nn.Module] = []
        width = config.in_dim
        for _ in range(config.n_layers):
            layers += [nn.Linear(width, config.hidden), nn.LayerNorm(config.hidden), nn.GELU()]
            layers.append(nn.Dropout(config.dropout))
            width = config.hidden
        self.mlp = nn.Sequential(*layers)

    def body(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)


def replicate_beyond_length(h: torch.Tensor, mask: torch.Tensor, pad: int) -> torch.Tensor:
    """``h`` ``[B, C, T]`` padded by ``pad`` frames on both sides, replicating each item's first and *last real*
    frame - so a convolution sees the same boundary condition whatever the batch's padding length."""
    lengths = mask.sum(1).clamp_min(1)
    t = torch.arange(h.shape[-1] + 2 * pad, device=h.device) - pad
    src = torch.minimum(t.clamp_min(0).unsqueeze(0), (lengths - 1).unsqueeze(1))  # [B, T + 2 pad]
    return torch.gather(h, 2, src.unsqueeze(1).expand(-1, h.shape[1], -1))


class ConvBlock(nn.Module):
    """Pre-norm residual block: LayerNorm -> dilated Conv1d -> GELU -> Dropout -> pointwise Conv1d."""

    def __init__(self, width: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigError("kernel_size must be odd so the block is centred")
        self.norm = nn.LayerNorm(width)
        self.conv = nn.Conv1d(width, width, kernel_size, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)
        self.pad = dilation * (kernel_size - 1) // 2
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # h [B, T, C]
        z = self.norm(h).transpose(1, 2)
        z = self.conv(replicate_beyond_length(z, mask, self.pad))
        z = self.mix(self.dropout(F.gelu(z))).transpose(1, 2)
        return (h + z) * mask.unsqueeze(-1)


class ConvEmbedder(FrameEmbedder):
    """Input projection then ``n_layers`` residual dilated temporal conv blocks (dilation ``growth**l``).

    Receptive field: ``1 + (kernel_size - 1) * sum(growth**l)`` frames (61 frames for k=5, growth 2, 4 layers).
    """

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.inp = nn.Sequential(nn.Linear(config.in_dim, config.hidden), nn.GELU())
        self.blocks = nn.ModuleList(
            ConvBlock(config.hidden, config.kernel_size, config.dilation_growth**layer, config.dropout)
            for layer in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.hidden)

    def body(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.inp(h) * mask.unsqueeze(-1)
        for block in self.blocks:
            h = block(h, mask)
        return self.norm(h)

    def receptive_radius(self) -> int:
        return sum(block.pad for block in self.blocks)


def sine_positional_encoding(length: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Vaswani et al. 2017 §3.5: ``PE[t, 2k] = sin(t / 10000^(2k/width))``, ``PE[t, 2k+1] = cos(...)``."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    pe = torch.zeros(length, width, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)[:, : width // 2]
    return pe.to(dtype)


class SelfAttention(nn.Module):
    """Batch-first multi-head self-attention with key padding and an optional relative-position bias.

    With ``window = w`` a query attends to keys at offsets ``-w..w`` only, each offset with a learned per-head bias
    (Shaw et al. 2018 / T5-style relative bias): translation-equivariant. ``window = None`` attends everywhere with no
    positional term (permutation-equivariant; position then comes only from an added encoding).
    """

    def __init__(self, width: int, n_heads: int, window: int | None, dropout: float):
        super().__init__()
        if width % n_heads:
            raise ConfigError(f"hidden width {width} is not divisible by {n_heads} heads")
        self.n_heads = n_heads
        self.window = window
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout
        if window is not None:
            self.rel_bias = nn.Parameter(torch.zeros(n_heads, 2 * window + 1))

    def attention_bias(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Additive bias ``[B, H, T, T]``: -inf on padded keys and outside the window, relative bias inside."""
        T = mask.shape[1]
        neg = torch.finfo(dtype).min
        bias = torch.zeros(mask.shape[0], 1, 1, T, device=mask.device, dtype=dtype)
        bias = bias.masked_fill(~mask[:, None, None, :], neg)
        if self.window is None:
            return bias
        offset = torch.arange(T, device=mask.device)
        offset = offset[None, :] - offset[:, None]  # key - query
        inside = offset.abs() <= self.window
        table = self.rel_bias[:, (offset.clamp(-self.window, self.window) + self.window)]  # [H, T, T]
        table = table.masked_fill(~inside, neg).to(dtype)
        return (bias + table.unsqueeze(0)).clamp_min(neg)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = h.shape
        q, k, v = self.qkv(h).view(B, T, 3, self.n_heads, C // self.n_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=self.attention_bias(mask, q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.proj(out.transpose(1, 2).reshape(B, T, C))


class TransformerLayer(nn.Module):
    """Pre-norm transformer encoder layer (attention + GELU MLP), batch-first."""

    def __init__(self, width: int, n_heads: int, window: int | None, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, n_heads, window, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = h + self.dropout(self.attn(self.norm1(h), mask))
        h = h + self.dropout(self.mlp(self.norm2(h)))
        return h * mask.unsqueeze(-1)


class TransformerEmbedder(FrameEmbedder):
    """LAC-style encoder (docs/methods.md): per-frame MLP, optional sine positional encoding, ``n_layers``
    transformer layers with ``n_heads`` heads, linear output. Local relative-bias attention unless
    ``positional_encoding`` is on, in which case attention is global as in the paper."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.inp = nn.Sequential(
            nn.Linear(config.in_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, config.hidden)
        )
        window = None if config.positional_encoding else config.attention_window
        self.layers = nn.ModuleList(
            TransformerLayer(config.hidden, config.n_heads, window, config.dropout) for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.hidden)

    def body(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.inp(h)
        if self.config.positional_encoding:
            h = h + sine_positional_encoding(h.shape[1], h.shape[2], h.device, h.dtype)
        h = h * mask.unsqueeze(-1)
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)

    def receptive_radius(self) -> int | None:
        window = self.layers[0].attn.window if len(self.layers) else 0
        return None if window is None else window * len(self.layers)


EMBEDDERS: dict[str, type[FrameEmbedder]] = {
    "mlp": MLPEmbedder,
    "conv": ConvEmbedder,
    "transformer": TransformerEmbedder,
}


def build_encoder(config: EncoderConfig) -> FrameEmbedder:
    """Instantiate the embedder named by ``config.kind``."""
    try:
        cls = EMBEDDERS[config.kind]
    except KeyError:
        raise ConfigError(f"unknown encoder kind {config.kind!r}; choose one of {sorted(EMBEDDERS)}") from None
    return cls(config)

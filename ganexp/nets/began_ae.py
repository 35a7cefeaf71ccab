"""BEGAN's autoencoder discriminator (Berthelot et al. 2017), built from the DCGAN blocks:
a DCGAN encoder to an ``h_dim`` code and a DCGAN decoder back to the image."""
from torch import Tensor, nn

from .dcgan import DCGANDiscriminator, DCGANGenerator


class AutoencoderDiscriminator(nn.Module):
    """image (B, C, R, R) -> reconstruction (B, C, R, R) in [-1, 1]."""

    def __init__(self, resolution: int = 28, channels: int = 1, width: int = 64, norm: str = "none",
                 h_dim: int = 64, **_):
        super().__init__()
        # `norm` is used as given (BEGAN's own networks have none: the began loss option (ganexp/settings.py) maps a requested
        # batch norm to none). Spectral normalization bounds the encoder's Lipschitz constant like any
        # D's (Miyato et al. 2018); the decoder is an image generator, which has no spectral option.
        self.encoder = DCGANDiscriminator(resolution, channels, width, norm, out_features=h_dim)  # -> (B, h_dim)
        self.decoder = DCGANGenerator(h_dim, resolution, channels, width, "none" if norm == "spectral" else norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))

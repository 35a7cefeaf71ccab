"""Networks: plain nn.Modules with explicit constructor arguments (never global config)."""
from .began_ae import AutoencoderDiscriminator
from .dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "AutoencoderDiscriminator"]

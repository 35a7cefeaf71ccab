"""Networks: plain nn.Modules with explicit constructor arguments (never global config)."""
from .began_ae import AutoencoderDiscriminator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .progressive import ProgressiveDiscriminator, ProgressiveGenerator

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "AutoencoderDiscriminator"]

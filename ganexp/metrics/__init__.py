"""FID, IS, KID, precision/recall and the diversity ratio on torch-fidelity's Inception-v3 (TensorFlow
2015-12-05 graph), as registered metrics (ganexp.metrics.registry; metrics.names picks them).

    from ganexp.metrics import Evaluator, describe_key
    ev = Evaluator(cfg.metrics, dataset)
    scores = ev.evaluate(sample_fn, device)   # {"fid10k": 12.3, "is10k": None, "kid10k": 0.011, ...}
    ev.info                                   # sample counts, real split, weights kind/path, per-metric settings
    describe_key("kid10k")                    # metric, sample count, direction, label, std key

FID's Fréchet distance, KID and precision/recall can also be computed on DINOv2 ViT features
(metrics.extractors; fid10k_dinov2 is FD_DINOv2; ganexp.metrics.dinov2).

Real-data statistics are cached under metrics.cache_dir; weights are resolved as described in
ganexp.metrics.weights (`python -m ganexp.metrics setup` prepares Inception's offline).
"""

from ganexp.metrics.config import DEFAULTS, metric_key
from ganexp.metrics.evaluator import Evaluator
from ganexp.metrics.registry import KeyInfo, Metric, Output, describe_key, register_metric
from ganexp.metrics.extractor import InceptionFeatures, to_rgb, to_uint8
from ganexp.metrics.stats import feature_stats, frechet_distance, inception_score
from ganexp.metrics.weights import InceptionWeights, WeightsError, bootstrap_pool3, resolve_weights

__all__ = [
    "DEFAULTS",
    "Evaluator",
    "InceptionFeatures",
    "InceptionWeights",
    "KeyInfo",
    "Metric",
    "Output",
    "WeightsError",
    "bootstrap_pool3",
    "describe_key",
    "feature_stats",
    "frechet_distance",
    "inception_score",
    "metric_key",
    "register_metric",
    "resolve_weights",
    "to_rgb",
    "to_uint8",
]

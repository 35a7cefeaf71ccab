"""FID and Inception Score on torch-fidelity's Inception-v3 (TensorFlow 2015-12-05 graph).

    from ganexp.metrics import Evaluator
    ev = Evaluator(cfg.metrics, dataset)
    scores = ev.evaluate(sample_fn, device)   # {"fid10k": 12.3, "is10k": None}
    ev.info                                   # sample counts, real split, weights kind/path

Real-data statistics are cached under metrics.cache_dir; weights are resolved as described in
ganexp.metrics.weights (`python -m ganexp.metrics setup` prepares them offline).
"""

from ganexp.metrics.config import DEFAULTS, metric_key
from ganexp.metrics.evaluator import Evaluator
from ganexp.metrics.extractor import InceptionFeatures, to_rgb, to_uint8
from ganexp.metrics.stats import feature_stats, frechet_distance, inception_score
from ganexp.metrics.weights import InceptionWeights, WeightsError, bootstrap_pool3, resolve_weights

__all__ = [
    "DEFAULTS",
    "Evaluator",
    "InceptionFeatures",
    "InceptionWeights",
    "WeightsError",
    "bootstrap_pool3",
    "feature_stats",
    "frechet_distance",
    "inception_score",
    "metric_key",
    "resolve_weights",
    "to_rgb",
    "to_uint8",
]

"""Training systems beyond one G/D pair (issue 10, Study C: Byeon, Park & Yang 2025, PS-GAN).

So far the paper's two update rules as pure, tested functions: Algorithm 2's branch decision
(``multi_generator``) and Algorithm 1's weight mixing at stage switches (``stepwise``). The
LightningModules that use them are the next step (see the issue's note).
"""

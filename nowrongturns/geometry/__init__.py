"""The per-step geometry: the sums one pass over memory takes per step against every w* (recorder and
its backends fused_cpu, triton_sums, gram_torch; one_pass, the layout they share), and RSI, EB, γ and
loLR from those sums (metrics, torch-free)."""

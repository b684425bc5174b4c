"""The NACOS joint search: cost model, objectives, strategies."""

"""layerpower.profiling"""

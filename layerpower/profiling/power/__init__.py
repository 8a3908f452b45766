"""layerpower.profiling.power"""

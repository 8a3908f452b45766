"""layerpower.stats"""

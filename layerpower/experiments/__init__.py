"""layerpower.experiments"""

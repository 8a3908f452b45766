"""layerpower.experiments.backends"""

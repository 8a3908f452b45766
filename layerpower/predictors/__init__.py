"""layerpower.predictors"""

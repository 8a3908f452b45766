"""layerpower.dataset"""

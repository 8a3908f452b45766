"""Model zoo (name -> nn.Module) and weight-free layer extraction."""

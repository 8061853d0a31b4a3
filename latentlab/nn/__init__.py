"""The neural-network parts shared by the model stages: models, losses, seeds stacked into one
model, checkpoints, runtime."""

"""The neural-network parts shared by the model stages: models, losses, checkpoints, runtime."""

"""Library code for the Lab 8 latent-space pipeline: data, models, losses, training, latent maps."""

"""Measures of latent spaces and decoded images: numpy only, shared by the measuring stages."""

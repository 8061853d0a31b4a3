"""The judge: a CNN that classifies and embeds decoded images, and how it is trained."""

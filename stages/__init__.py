"""One module per DVC stage; each reads its params, calls latentlab, and writes its outputs."""

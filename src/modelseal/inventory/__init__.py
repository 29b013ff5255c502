"""Which models are in use, where, how they are loaded, and how risky each one is."""

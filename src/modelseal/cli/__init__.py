"""The command line: a thin shell that parses, calls :mod:`modelseal.api`, and renders."""

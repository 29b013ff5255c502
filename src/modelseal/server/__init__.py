"""The registry service and dashboard (extra ``server``): a FastAPI shell over :mod:`modelseal.api`."""

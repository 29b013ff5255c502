"""Types shared by every stage of the pipeline; imports nothing else of the package."""

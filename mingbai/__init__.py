"""mingbai (明白): a 法律明白人 assistant. Core glue: settings, CLI, web app, process runner."""
__version__ = "0.1.0"

"""Serving side of MLRay: `import_path: mlray_serve.app:build` with `args: {model_uri: ...}`.

Importing the package does not import Ray: only `mlray_serve.app` does.
"""

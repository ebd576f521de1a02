"""Serving side of MLRay: `import_path: mlray_serve.app:build` with `args: {model_uri: ...}`, and in gateway mode
`import_path: mlray_serve.gateway:build` with the routing table as `user_config`.

Importing the package does not import Ray: only `mlray_serve.app` and `mlray_serve.gateway` do.
"""

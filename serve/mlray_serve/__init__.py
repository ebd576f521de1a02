"""Serving side of MLRay: `import_path: mlray_serve.app:build` with `args: {model_uri: ...}`."""

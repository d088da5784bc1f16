"""A replica: one MLflow model version behind a complete MLflow scoring server.

Pipeline per request: decode (``codecs``) ▸ enforce signature and predict (``model``) ▸
encode (``encoding``). ``app`` holds the routes, ``server`` the process lifecycle.
"""

"""A replica: one MLflow model version behind a complete MLflow scoring server.

Pipeline per request (``app.score``): decode (``codecs``) ▸ enforce the signature and predict
(``model``, with ``enforcement`` making MLflow's errors name the column) ▸ encode
(``encoding``). ``artifacts`` and ``buildlog`` get the model onto disk and say how long each
step took; ``app`` holds the routes, ``server`` the process lifecycle.
"""

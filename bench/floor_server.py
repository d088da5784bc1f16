"""The floor: the least a server can do — parse the JSON, call the estimator, answer.

No signature enforcement, no MLflow scoring protocol; what is left is HTTP, JSON and predict.
"""

from __future__ import annotations

import os

import mlflow
import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The flavor's own model (a scikit-learn estimator, an XGBoost one), whatever the flavor.
estimator = mlflow.pyfunc.load_model(os.environ["BENCH_MODEL_URI"]).get_raw_model()


async def invocations(request: Request) -> Response:
    split = orjson.loads(await request.body())["dataframe_split"]
    features = np.asarray(split["data"], dtype=np.float64)
    predictions = estimator.predict(features)
    return Response(
        orjson.dumps({"predictions": predictions.tolist()}), media_type="application/json"
    )


app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])

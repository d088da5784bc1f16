"""A model replica's Open Inference Protocol routes (``/v2/...``), beside MLflow's own.

The model's name and version in answers are the ones in the path: standalone, whatever the
caller calls it; behind the gateway, the endpoint and the served model.
"""

from __future__ import annotations

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from servegate.body import read_limited_body
from servegate.errors import InvalidParameterValue, oip_errors
from servegate.features.join import FeatureJoiner
from servegate.gateway.responses import OrjsonResponse
from servegate.observability import request_ids
from servegate.replica import oip
from servegate.replica.load import LoadMeter
from servegate.replica.model import LoadedModel
from servegate.replica.prediction_slots import PredictionSlots

PLATFORM = "mlflow"


def oip_routes(
    model: LoadedModel,
    slots: PredictionSlots,
    meter: LoadMeter,
    max_request_bytes: int,
    max_rows: int,
    features: FeatureJoiner | None = None,
) -> list[BaseRoute]:
    output_schema = model.metadata.get_output_schema()

    async def live(request: Request) -> Response:
        return OrjsonResponse({"live": True})

    async def ready(request: Request) -> Response:
        return OrjsonResponse({"ready": True})

    async def model_ready(request: Request) -> Response:
        return OrjsonResponse({"name": request.path_params["model"], "ready": True})

    async def metadata(request: Request) -> Response:
        version = request.path_params.get("version")
        return OrjsonResponse(
            {
                "name": request.path_params["model"],
                "versions": [version] if version else [],
                "platform": PLATFORM,
                "inputs": oip.tensor_metadata(model.input_schema, "input"),
                "outputs": oip.tensor_metadata(output_schema, oip.DEFAULT_OUTPUT),
            }
        )

    def predict(request: oip.InferRequest) -> list[oip.Tensor]:
        data = oip.model_input(request, model.input_schema)
        if features is not None and isinstance(data, pd.DataFrame):
            data = features.join(data)
        rows = len(data) if isinstance(data, pd.DataFrame) else None
        if rows is not None and rows > max_rows:
            raise InvalidParameterValue(
                f"The request has {rows} rows; the limit is {max_rows} rows per request."
            )
        raw = model.predict(data, request.parameters or None)
        return oip.output_tensors(raw, output_schema)

    async def infer(request: Request) -> Response:
        request_id = request_ids.begin(request.headers.get(request_ids.HEADER))
        meter.begin()
        try:
            response = await answer(request)
        finally:
            meter.end()
        response.headers[request_ids.HEADER] = request_id
        return response

    async def answer(request: Request) -> Response:
        body = await read_limited_body(request, max_request_bytes)
        parsed = oip.parse_request(body, request.headers.get(oip.HEADER_LENGTH))
        outputs = await slots.run(predict, parsed)
        encoded, header_length = oip.infer_response(
            parsed, outputs, request.path_params["model"], request.path_params.get("version")
        )
        if header_length is None:
            return Response(encoded, media_type="application/json")
        return Response(
            encoded,
            media_type="application/octet-stream",
            headers={oip.HEADER_LENGTH: str(header_length)},
        )

    model_paths = ("/v2/models/{model}", "/v2/models/{model}/versions/{version}")
    routes: list[BaseRoute] = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
    for path in model_paths:
        routes += [
            Route(path, oip_errors(metadata), methods=["GET"]),
            Route(path + "/ready", oip_errors(model_ready), methods=["GET"]),
            Route(path + "/infer", oip_errors(infer), methods=["POST"]),
        ]
    return routes

"""The named stack's floor, for bench/cold_path.py: a one-route FastAPI app behind Mangum with one
PynamoDB model, nothing of agentgate's. With BENCH_LEAN_FASTAPI=1 it first imports
agentgate.api.lean_fastapi, as every agentgate app does. A function's entry import cannot go much
below this figure while it keeps FastAPI, Mangum and PynamoDB."""

import os

if os.environ.get("BENCH_LEAN_FASTAPI") == "1":
    import agentgate.api.lean_fastapi  # noqa: F401

from fastapi import FastAPI
from mangum import Mangum
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model


class Item(Model):
    class Meta:
        table_name = "reference"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)


app = FastAPI()


@app.get("/items/{pk}")
def get_item(pk: str) -> dict:
    return {"pk": pk}


handler = Mangum(app, lifespan="off")

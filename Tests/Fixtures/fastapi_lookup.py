"""The FastAPI twin of hello-c's and hello-swift's typed routes, used to record
fastapi-422.json (run: pip install fastapi httpx; python3 fastapi_lookup.py > fastapi-422.json)."""
import json
from enum import Enum

import fastapi
import pydantic
from fastapi import FastAPI, Path, Query
from fastapi.testclient import TestClient


class Fmt(str, Enum):
    json = "json"
    text = "text"


app = FastAPI()


@app.get("/hello/lookup/{item_id}")
def lookup(item_id: int = Path(ge=1), q: str = Query("", max_length=50), limit: int = Query(10, ge=1, le=100),
           format: Fmt = Fmt.json, verbose: bool = False):
    return {"item_id": item_id, "q": q, "limit": limit, "format": format.value, "verbose": verbose}


@app.get("/hello/count")
def count(n: int = Query(5, ge=0, le=1000)):
    return n


CASES = ["/hello/lookup/0", "/hello/lookup/abc", "/hello/lookup/42?limit=0", "/hello/lookup/42?limit=101&format=xml",
         "/hello/lookup/42?verbose=maybe",
         "/hello/lookup/-1?q=" + "x" * 51 + "&limit=1.5&format=XML&verbose=2",
         "/hello/lookup/42?limit=%205%20", "/hello/lookup/42?limit=5.0&verbose=YES", "/hello/lookup/1_0",
         "/hello/lookup/42?q=%C3%A9t%C3%A9&limit=", "/hello/count?n=abc", "/hello/count?n=-1", "/hello/count?n=1e3"]

if __name__ == "__main__":
    client = TestClient(app)
    cases = []
    for target in CASES:
        r = client.get(target)
        cases.append({"target": target, "status": r.status_code, "body": r.text})
    source = f"FastAPI {fastapi.__version__}, pydantic {pydantic.VERSION} (TestClient), for the routes in fastapi_lookup.py"
    print(json.dumps({"source": source, "cases": cases}, ensure_ascii=False, indent=1))

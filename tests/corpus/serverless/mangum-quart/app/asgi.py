"""A Quart app behind Mangum (API Gateway HTTP API)."""

from mangum import Mangum
from quart import Quart, jsonify

app = Quart(__name__)


@app.route("/")
async def index():
    return jsonify(greeting="hello from Quart")


handler = Mangum(app)

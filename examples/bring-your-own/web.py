"""A Flask app as it ran behind serverless-wsgi: nothing here knows about multicloud."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/web/hello")
def hello():
    return jsonify(message=f"Hello, {request.args.get('name', 'world')}!")


@app.post("/web/echo")
def echo():
    return request.get_data(), 201, {"Content-Type": request.content_type or "application/octet-stream"}

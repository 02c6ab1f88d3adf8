"""A Flask app served on Lambda by serverless-wsgi (custom.wsgi.app: app.app)."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/")
def home():
    return jsonify(message="Flask on Lambda: try /hello")


@app.route("/hello")
def hello():
    return jsonify(message="Hello from the Flask app")


@app.errorhandler(404)
def not_found(error):
    return jsonify(error="no such route"), 404

"""A Flask users API on DynamoDB (table in USERS_TABLE), served on Lambda by serverless-wsgi."""

import os

import boto3
from flask import Flask, jsonify, request

app = Flask(__name__)
TABLE = os.environ["USERS_TABLE"]
dynamodb = boto3.client("dynamodb")


@app.route("/users/<user_id>")
def get_user(user_id):
    found = dynamodb.get_item(TableName=TABLE, Key={"userId": {"S": user_id}}).get("Item")
    if not found:
        return jsonify(error=f"no user {user_id}"), 404
    return jsonify(userId=found["userId"]["S"], name=found["name"]["S"])


@app.route("/users", methods=["POST"])
def create_user():
    data = request.get_json(silent=True) or {}
    user_id, name = data.get("userId"), data.get("name")
    if not isinstance(user_id, str) or not isinstance(name, str):
        return jsonify(error="userId and name must be strings"), 400
    dynamodb.put_item(TableName=TABLE, Item={"userId": {"S": user_id}, "name": {"S": name}})
    return jsonify(userId=user_id, name=name)


@app.errorhandler(404)
def not_found(error):
    return jsonify(error="no such route"), 404

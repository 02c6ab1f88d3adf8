"""A Flask app as it was deployed with serverless-wsgi: nothing in it knows about multicloud."""

from flask import Flask, jsonify, make_response, redirect, request

app = Flask(__name__)


@app.get("/flask/items/<int:item_id>")
def get_item(item_id):
    return jsonify(id=item_id, q=request.args.get("q"), tags=request.args.getlist("tag"),
                   trace=request.headers.get("X-Trace"), session=request.cookies.get("session"),
                   theme=request.cookies.get("theme"), method=request.method, path=request.path)


@app.put("/flask/items/<int:item_id>")
def put_item(item_id):
    return jsonify(id=item_id, name=request.get_json()["name"], method=request.method)


@app.delete("/flask/items/<int:item_id>")
def delete_item(item_id):
    return "", 204


@app.post("/flask/echo")
def echo():
    data = request.get_data()
    response = make_response(data[::-1], 201)
    response.headers["Content-Type"] = "application/octet-stream"
    response.headers["X-Length"] = str(len(data))
    response.set_cookie("x", "1")
    response.set_cookie("y", "2")
    return response


@app.get("/flask/teapot")
def teapot():
    return "short and stout", 418, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/flask/old")
def old():
    return redirect("/flask/items/1", code=302)

"""An order service that uses every trigger kind through the portable event model."""

import os

from multicloud import BatchResult, Response


def api(event, context):
    req = event.http
    if req.method == "POST":
        order = req.json()
        if not isinstance(order, dict) or "sku" not in order:
            return Response(400, body={"error": "an order needs a sku"})
        context.logger.info("order received", sku=order["sku"])
        return Response(201, body={"id": context.request_id, "sku": order["sku"],
                                   "currency": os.environ.get("CURRENCY", "EUR")})
    return {"id": req.path_params.get("id"), "status": "open"}


def fulfil(event, context):
    failed = []
    for message in event.messages:
        try:
            order = message.json()
        except ValueError:
            order = None
        if not isinstance(order, dict) or "sku" not in order:
            failed.append(message.id)  # only this message is retried
            continue
        context.logger.info("fulfilling", sku=order["sku"])
    return BatchResult(failed=failed)


def clicks(event, context):
    context.logger.info("clicks", count=len(event.messages))


def imports(event, context):
    obj = event.storage
    context.logger.info("import", bucket=obj.bucket, key=obj.key, size=obj.size)
    scratch = context.scratch_dir / "import.csv"  # scratch only: gone with the instance
    scratch.write_text(f"{obj.bucket}/{obj.key}\n")


def report(event, context):
    context.logger.info("daily report", at=str(event.schedule.time))

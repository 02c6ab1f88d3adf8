"""Booking slots are public; patient records are confidential and never leave the private cloud."""

import hashlib
import hmac
import os


def slots(event, context):
    return {"slots": ["09:00", "09:30", "10:00"], "served_by": context.target}


def records(event, context):
    patient = event.http.path_params.get("patient")
    # never log the identifier itself: a pseudonym keyed with the service's secret, stable across restarts
    ref = hmac.new(os.environ["RECORDS_KEY"].encode(), patient.encode(), hashlib.sha256).hexdigest()[:16]
    context.logger.info("record read", patient_ref=ref)
    return {"patient": patient, "allergies": [], "served_by": context.target}

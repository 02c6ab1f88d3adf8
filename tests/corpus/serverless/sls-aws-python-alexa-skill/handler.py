"""Alexa skill: answers the LuckyNumber intent with a random number up to the spoken limit (default 100)."""

import random


def _speak(text, end_session=True):
    return {
        "version": "1.0",
        "response": {
            "outputSpeech": {"type": "PlainText", "text": text},
            "shouldEndSession": end_session,
        },
    }


def _limit(intent):
    slot = (intent.get("slots") or {}).get("Limit") or {}
    try:
        return max(1, int(slot.get("value")))
    except (TypeError, ValueError):
        return 100


def lucky_number(event, context):
    request = event.get("request", {})
    if request.get("type") == "LaunchRequest":
        return _speak("Ask me for a lucky number.", end_session=False)
    intent = request.get("intent") or {}
    if intent.get("name") != "LuckyNumber":
        return _speak("I only know lucky numbers.")
    limit = _limit(intent)
    return _speak(f"Your lucky number between 1 and {limit} is {random.randint(1, limit)}.")

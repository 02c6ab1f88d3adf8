"""JSON for DynamoDB items: the resource API hands numbers back as Decimal, which json cannot write."""

import decimal
import json


class DecimalEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def dumps(value):
    return json.dumps(value, cls=DecimalEncoder)

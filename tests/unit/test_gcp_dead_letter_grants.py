"""The IAM bindings deploy writes so Pub/Sub's service agent can move dead letters: the member is added
once, to the unconditional binding of its role, and nothing is written when it is already there. (The
Pub/Sub emulator has no IAM, so the call itself is not exercised; this is the policy arithmetic.)"""

from multicloud.providers.gcp.pubsub import PUBLISHER, SUBSCRIBER, dlq_id, with_member

AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"


def test_the_agent_joins_its_roles_binding_once() -> None:
    bindings = [{"role": PUBLISHER, "members": ["user:ann@example.com"]},
                {"role": "roles/viewer", "members": ["group:ops@example.com"]}]
    new = with_member(bindings, PUBLISHER, AGENT)
    assert new == [{"role": PUBLISHER, "members": [AGENT, "user:ann@example.com"]},
                   {"role": "roles/viewer", "members": ["group:ops@example.com"]}]
    assert bindings[0]["members"] == ["user:ann@example.com"]  # the input is not changed
    assert with_member(new, PUBLISHER, AGENT) is None  # already granted: nothing to write


def test_a_conditional_binding_is_left_alone() -> None:
    bindings = [{"role": SUBSCRIBER, "members": ["user:ann@example.com"], "condition": "request.time < x"}]
    assert with_member(bindings, SUBSCRIBER, AGENT) == bindings + [{"role": SUBSCRIBER, "members": [AGENT]}]
    assert with_member([], SUBSCRIBER, AGENT) == [{"role": SUBSCRIBER, "members": [AGENT]}]


def test_dead_letter_names_follow_the_topic() -> None:
    assert dlq_id("orders") == "orders-dlq" and dlq_id("projects/p/topics/orders") == "orders-dlq"

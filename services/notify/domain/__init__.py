"""The pure rules of outbound webhooks: subscriptions, targets, signing, the retry schedule and the
CloudEvent body. No I/O."""

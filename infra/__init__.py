"""Adapters: DynamoDB, EventBridge, settings, the local stack and the CLI."""
